"""The numbers the papers print for ``interlcm`` (plain data; :mod:`facefix.eval.paper` reads it).

Seed 004 Table 1, "Ours": CelebA-Test (six metrics), then FID and MUSIQ on three real sets.
"""

SEED_004 = "seed 004 (InterLCM) Table 1"
IDS_NOTE = "Deg of VQFR (ArcFace ResNet-18 on gray 128 px); ours uses IR-SE50 on colour: not the same scale"

PAPER_ROWS = [
    {"method": "InterLCM (paper)", "source": SEED_004, "dataset": "celeba-test", "notes": {"ids": IDS_NOTE},
     "values": {"lpips": "0.223", "fid": "45.38", "musiq": "76.58", "ids": "33.64", "psnr": "25.19",
                "ssim": "0.718"}},
    {"method": "InterLCM (paper)", "source": SEED_004, "dataset": "lfw-test",
     "values": {"fid": "51.32", "musiq": "76.16"}},
    {"method": "InterLCM (paper)", "source": SEED_004, "dataset": "webphoto-test",
     "values": {"fid": "75.48", "musiq": "75.88"}},
    {"method": "InterLCM (paper)", "source": SEED_004, "dataset": "wider-test",
     "values": {"fid": "35.43", "musiq": "76.29"}},
]
