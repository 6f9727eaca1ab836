"""The numbers the papers print for ``ddpm`` (plain data; :mod:`facefix.eval.paper` reads it).

Seed 001: CelebA-HQ 256, 2,000 test images; the paper's own model ("本文方法"), per mask type.
"""

PAPER_ROWS = [
    {"method": "ddpm (paper)", "source": "seed 001 (ddpm) Table 2", "setting": "center",
     "values": {"celeba-hq-test": {"psnr": "24.93", "ssim": "0.882"}}},
    {"method": "ddpm (paper)", "source": "seed 001 (ddpm) Table 3", "setting": "random",
     "values": {"celeba-hq-test": {"psnr": "25.01", "ssim": "0.886"}}},
]
