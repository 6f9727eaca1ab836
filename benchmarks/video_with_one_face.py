"""Write a test video: a face photo moving slowly over a plain background, at any size and length.

For ``facefix bench --pipeline VIDEO`` (the speed issue's 1080p, one-face figure) on machines where no
video of one's own may be used:

    python benchmarks/video_with_one_face.py FACE.jpg clip.mp4 --size 1920x1080 --frames 300
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np


def frames(face: np.ndarray, width: int, height: int, count: int, face_height: int):
    """RGB frames with ``face`` (BGR) scaled to ``face_height`` and drifting left to right."""
    scale = face_height / face.shape[0]
    face = cv2.resize(face, (round(face.shape[1] * scale), face_height), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(face[..., ::-1])
    top = (height - face.shape[0]) // 2
    travel = max(width - face.shape[1], 0)
    for index in range(count):
        canvas = np.full((height, width, 3), 96, np.uint8)
        left = int(travel * (0.25 + 0.5 * index / max(count - 1, 1)))
        canvas[top:top + face.shape[0], left:left + face.shape[1]] = rgb[:height - top, :width - left]
        yield canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("face", type=Path, help="a photo with one face")
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fps", type=float, default=30)
    args = parser.parse_args()

    face = cv2.imread(str(args.face), cv2.IMREAD_COLOR)
    if face is None:
        raise SystemExit(f"{args.face}: cannot read this image")
    width, height = (int(v) for v in args.size.lower().split("x"))
    writer = imageio_ffmpeg.write_frames(str(args.output), (width, height), fps=args.fps, codec="libx264",
                                         quality=8, macro_block_size=2)
    writer.send(None)
    for frame in frames(face, width, height, args.frames, face_height=height // 2):
        writer.send(frame)
    writer.close()
    print(f"{args.output}: {args.frames} frames, {width}x{height}, {args.fps:g} fps")


if __name__ == "__main__":
    main()
