"""The numbers the papers print for ``mmrb`` (plain data; :mod:`facefix.eval.paper` reads it).

Seeds 002/003 evaluate on a CelebA selection of 2,556 posed faces and 1,610 LFW images that were never
published, so no one can evaluate on the same images. InterLCM's GPEN row (seed 004 Table 1) stands
in, since ``mmrb`` reproduces GPEN on day one.
"""

SEED_004 = "seed 004 (InterLCM) Table 1"
IDS_NOTE = "Deg of VQFR (ArcFace ResNet-18 on gray 128 px); ours uses IR-SE50 on colour: not the same scale"

PAPER_ROWS = [
    {"method": "GPEN", "source": SEED_004, "dataset": "celeba-test", "notes": {"ids": IDS_NOTE},
     "values": {"lpips": "0.290", "fid": "63.44", "musiq": "67.52", "ids": "36.17", "psnr": "25.48",
                "ssim": "0.708"}},
    {"method": "GPEN", "source": SEED_004, "dataset": "lfw-test", "values": {"fid": "61.04", "musiq": "68.96"}},
    {"method": "GPEN", "source": SEED_004, "dataset": "webphoto-test", "values": {"fid": "99.09", "musiq": "61.10"}},
    {"method": "GPEN", "source": SEED_004, "dataset": "wider-test", "values": {"fid": "46.25", "musiq": "62.64"}},
]
