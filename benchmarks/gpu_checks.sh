#!/usr/bin/env bash
# The speed issue's GPU figures in one device run (a few minutes on an H100/H200), from the repo root:
#   fusion faces/s at batch 1/8/32 in fp32 and bf16, mmrb the same, InterLCM s/face (bf16), channels-last
#   against NCHW, fp16/bf16 against fp32 on the golden configs, and the whole pipeline on a 1080p video
#   with one face.
# Inputs, in a folder the device run carries (default .gpu/, ignored by git):
#   .gpu/wheels/*.whl    packages the device image lacks (platformdirs, imageio-ffmpeg, diffusers, ...; see
#                        benchmarks/README.md for the pip download command)
#   .gpu/face.jpg        a photo with one face;  .gpu/detector.pth  RetinaFace mobile0.25 weights
#   .gpu/reference/      ../shared/reference/*.golden.pt (the golden configs)
# Results: $OUT/log.txt and one JSON file per benchmark.
set -u -o pipefail
inputs=${GPU_INPUTS:-.gpu}
out=${OUT:-gpu-out}
mkdir -p "$out"
if compgen -G "$inputs/wheels/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$inputs"/wheels/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
log() { echo "== $*" | tee -a "$out/log.txt"; "$@" 2>&1 | tee -a "$out/log.txt"; }
bench() { name=$1; shift; log python3 -m facefix bench --device cuda --min-seconds 3 --json "$@" >"$out/$name.json"; }

log nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
bench fusion --backend fusion --batch-sizes 1,8,32 --precision fp32 --precision bf16
bench mmrb --backend mmrb --batch-sizes 1,8,32 --precision fp32 --precision bf16
bench interlcm --backend interlcm --batch-sizes 1,8 --precision bf16
log python3 benchmarks/memory_format.py --device cuda --precision bf16 --batch-sizes 1,32 --rounds 10
log python3 benchmarks/precision_check.py --device cuda --reference "$inputs/reference"
if [ -f "$inputs/face.jpg" ] && [ -f "$inputs/detector.pth" ]; then
    log python3 benchmarks/video_with_one_face.py "$inputs/face.jpg" /tmp/clip_1080p.mp4 --frames 300
    bench video --backend fusion --batch-sizes 8,32 --precision bf16 --pipeline /tmp/clip_1080p.mp4 \
        --detector retinaface_mobile0.25 --detector-weights "$inputs/detector.pth"
fi
