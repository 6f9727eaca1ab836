"""The numbers the papers print for ``interlcm`` (plain data; :mod:`facefix.eval.paper` reads it).

Seed 004 Table 1, "Ours": CelebA-Test (six metrics), then FID and MUSIQ on three real sets.
"""

PAPER_ROWS = [
    # seed 004 Table 1: LPIPS, FID, MUSIQ, IDS, PSNR, SSIM on CelebA-Test; FID, MUSIQ on LFW, WebPhoto, WIDER
    {"method": "InterLCM (paper)", "source": "seed 004 (InterLCM) Table 1",
     "printed": ["0.223", "45.38", "76.58", "33.64", "25.19", "0.718", "51.32", "76.16", "75.48", "75.88",
                 "35.43", "76.29"]},
]
