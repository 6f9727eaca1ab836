"""Per-face latency of facefix's fusion network against GFPGAN's own GFPGANv1Clean, same weights.

GFPGAN's code is not part of facefix: put upstream's ``gfpgan/archs/gfpganv1_clean_arch.py`` and
``gfpgan/archs/stylegan2_clean_arch.py`` in a folder and pass it as ``--gfpgan-src``, e.g.::

    git clone --depth 1 https://github.com/TencentARC/GFPGAN /tmp/GFPGAN
    python benchmarks/against_gfpgan.py --gfpgan-src /tmp/GFPGAN/gfpgan/archs

The two files are copied into a temporary package and imported from there; basicsr, which they import
only for a registry decorator and an initialiser, is replaced by stubs (its current release does not
import with recent torchvision, and the weights are overwritten anyway).

Both networks get the same random weights at the v1.4 configuration and the same stored noise, the
outputs are checked to agree, then they are timed A B A B ... in one process with the same thread
count, and the medians are printed. Three networks are timed:

* ``gfpgan``: upstream ``GFPGANv1Clean``;
* ``facefix-gfpgan``: ``FusionGFPGAN`` without fusion blocks, i.e. the same network;
* ``facefix-fusion``: the fusion backend as shipped (three feature-fusion blocks, here at their identity
  initialisation), to show what the extra blocks cost.

facefix's networks run in the memory format ``facefix restore`` uses on the CPU (channels-last, see
:meth:`Restorer.memory_format_on`; ``--nchw`` times them in NCHW instead); upstream's runs
in NCHW as GFPGAN's script does.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import types
from dataclasses import replace
from pathlib import Path

import torch

from facefix.backends.fusion import FusionConfig, FusionGFPGAN, FusionRestorer
from facefix.bench import medians, time_interleaved
from facefix.device import resolve_dtype, to_memory_format

UPSTREAM_FILES = ("gfpganv1_clean_arch.py", "stylegan2_clean_arch.py")
#: GFPGANv1Clean arguments of the v1.3/v1.4 release (GFPGANer's "clean" arch)
V14_CONFIG = {"out_size": 512, "num_style_feat": 512, "channel_multiplier": 2, "decoder_load_path": None,
              "fix_decoder": False, "num_mlp": 8, "input_is_latent": True, "different_w": True, "narrow": 1,
              "sft_half": True}


def _stub_basicsr() -> None:
    """Just enough of basicsr for the two upstream files to import."""
    registry = types.SimpleNamespace(register=lambda *args, **kwargs: (lambda cls: cls))
    modules = {
        "basicsr": types.ModuleType("basicsr"),
        "basicsr.utils": types.ModuleType("basicsr.utils"),
        "basicsr.utils.registry": types.ModuleType("basicsr.utils.registry"),
        "basicsr.archs": types.ModuleType("basicsr.archs"),
        "basicsr.archs.arch_util": types.ModuleType("basicsr.archs.arch_util"),
    }
    modules["basicsr.utils.registry"].ARCH_REGISTRY = registry
    modules["basicsr.archs.arch_util"].default_init_weights = lambda *args, **kwargs: None
    sys.modules.update(modules)


def import_upstream(source: Path) -> types.ModuleType:
    missing = [name for name in UPSTREAM_FILES if not (source / name).is_file()]
    if missing:
        sys.exit(f"--gfpgan-src {source}: missing {', '.join(missing)}")
    package = Path(tempfile.mkdtemp(prefix="gfpgan_upstream_")) / "gfpgan_upstream"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in UPSTREAM_FILES:
        shutil.copy(source / name, package / name)
    _stub_basicsr()
    sys.path.insert(0, str(package.parent))
    import gfpgan_upstream.gfpganv1_clean_arch as upstream

    return upstream


def build_pair(upstream: types.ModuleType, seed: int) -> tuple[torch.nn.Module, FusionGFPGAN, FusionGFPGAN]:
    """Upstream's network with seeded random weights, and ours (without and with fusion blocks) sharing them."""
    torch.manual_seed(seed)
    theirs = upstream.GFPGANv1Clean(**V14_CONFIG).eval()
    with torch.no_grad():  # upstream's own initialisation was stubbed out: give every tensor a sane random value
        for name, tensor in theirs.state_dict().items():
            if name.endswith("bias"):
                tensor.normal_(0, 0.01)
            elif tensor.ndim > 1 and "noises" not in name:
                tensor.normal_(0, 1 / tensor[0].numel() ** 0.5)
        for block in theirs.stylegan_decoder.modules():
            if hasattr(block, "modulation"):
                block.modulation.bias.fill_(1)  # upstream's bias_fill=1: styles near 1 keep demodulation sane
    state = theirs.state_dict()
    config = FusionConfig.from_gfpgan(out_size=512, num_style_feat=512, channel_multiplier=2, narrow=1, num_mlp=8)
    same = FusionGFPGAN(replace(config, num_fusion_blocks=0)).eval()
    same.load_state_dict(state, strict=True)
    fusion = FusionGFPGAN(config).eval()
    missing, unexpected = fusion.load_state_dict(state, strict=False)
    assert not unexpected and all(key.startswith("fusion_blocks.") for key in missing)
    return theirs, same, fusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gfpgan-src", type=Path, required=True, help="folder with the two upstream arch files")
    parser.add_argument("--batch-sizes", default="1,4")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="timed calls of each network, interleaved")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    parser.add_argument("--nchw", action="store_true", help="run facefix's networks in NCHW too")
    args = parser.parse_args()
    layout = torch.contiguous_format if args.nchw else FusionRestorer.memory_format_on(torch.device("cpu"))

    torch.set_num_threads(args.threads)
    theirs, same, fusion = build_pair(import_upstream(args.gfpgan_src), args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} interleaved rounds, "
          "medians of seconds per face")
    rows = []
    for precision in args.precisions.split(","):
        dtype = resolve_dtype(precision)
        for network in (theirs, same, fusion):
            network.to(dtype)
        for network in (same, fusion):
            to_memory_format(network, layout)
        noise = same.stylegan_decoder.noise_maps(1, None, False)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            x = torch.rand(batch, 3, 512, 512, generator=torch.Generator().manual_seed(batch)).mul(2).sub(1).to(dtype)
            ours = x.contiguous(memory_format=layout)
            with torch.inference_mode():
                reference = theirs(x, return_rgb=False, randomize_noise=False)[0].float()
                difference = {name: (net(ours, noise=noise).image.float() - reference).abs().max().item()
                              for name, net in (("facefix-gfpgan", same), ("facefix-fusion", fusion))}
                times = time_interleaved({
                    "gfpgan": lambda x=x: theirs(x, return_rgb=False, randomize_noise=False),
                    "facefix-gfpgan": lambda x=ours, noise=noise: same(x, noise=noise),
                    "facefix-fusion": lambda x=ours, noise=noise: fusion(x, noise=noise),
                }, rounds=args.rounds)
            per_face = {name: value / batch for name, value in medians(times).items()}
            rows.append({"precision": precision, "batch": batch, "seconds_per_face": per_face,
                         "max_abs_difference": difference, "output_range": float(reference.abs().max()),
                         "raw_seconds": times})
            ratio = per_face["facefix-gfpgan"] / per_face["gfpgan"]
            print(f"{precision} batch {batch}: gfpgan {per_face['gfpgan']:.3f}  facefix-gfpgan "
                  f"{per_face['facefix-gfpgan']:.3f} ({ratio:.2f}x)  facefix-fusion {per_face['facefix-fusion']:.3f}  "
                  f"| max |difference| {difference['facefix-gfpgan']:.2e} / {difference['facefix-fusion']:.2e} "
                  f"(outputs up to {rows[-1]['output_range']:.2f})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
