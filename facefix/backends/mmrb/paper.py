"""The numbers the papers print for ``mmrb`` (plain data; :mod:`facefix.eval.paper` reads it).

Seeds 002/003 evaluate on a CelebA selection of 2,556 posed faces and 1,610 LFW images that were never
published, so no one can evaluate on the same images. InterLCM's GPEN row (seed 004 Table 1) stands
in, since ``mmrb`` reproduces GPEN on day one.
"""

PAPER_ROWS = [
    # seed 004 Table 1: LPIPS, FID, MUSIQ, IDS, PSNR, SSIM on CelebA-Test; FID, MUSIQ on LFW, WebPhoto, WIDER
    {"method": "GPEN", "source": "seed 004 (InterLCM) Table 1",
     "printed": ["0.290", "63.44", "67.52", "36.17", "25.48", "0.708", "61.04", "68.96", "99.09", "61.10",
                 "46.25", "62.64"]},
]
