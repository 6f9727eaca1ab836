"""The numbers the papers print for ``fusion`` (plain data; :mod:`facefix.eval.paper` reads it).

Seed 000 Table 1 ("Our algorithm" and the GFPGAN row: fusion's default weights are GFPGAN v1.4), and
GFPGAN's row of seed 004 Table 1. Seed 000's LPIPS is left out: ablation only, printed as percentages.
"""

SEED_000 = "seed 000 (fusion) Table 1"
SEED_004 = "seed 004 (InterLCM) Table 1"
FID_NOTE = "FID reference set not stated in the paper"
IDS_NOTE = "Deg of VQFR (ArcFace ResNet-18 on gray 128 px); ours uses IR-SE50 on colour: not the same scale"

PAPER_ROWS = [
    {"method": "fusion (paper)", "source": SEED_000, "dataset": "lfw-test",
     "values": {"fid": "49.36", "niqe": "3.754"}, "notes": {"fid": FID_NOTE}},
    {"method": "fusion (paper)", "source": SEED_000, "dataset": "celebchild-test",
     "values": {"fid": "107.74", "niqe": "4.329"}, "notes": {"fid": FID_NOTE}},
    {"method": "fusion (paper)", "source": SEED_000, "dataset": "webphoto-test",
     "values": {"fid": "87.03", "niqe": "4.019"}, "notes": {"fid": FID_NOTE}},
    {"method": "GFPGAN", "source": SEED_000, "dataset": "lfw-test",
     "values": {"fid": "49.96", "niqe": "3.882"}, "notes": {"fid": FID_NOTE}},
    {"method": "GFPGAN", "source": SEED_000, "dataset": "celebchild-test",
     "values": {"fid": "111.78", "niqe": "4.349"}, "notes": {"fid": FID_NOTE}},
    {"method": "GFPGAN", "source": SEED_000, "dataset": "webphoto-test",
     "values": {"fid": "87.35", "niqe": "4.144"}, "notes": {"fid": FID_NOTE}},
    {"method": "GFPGAN", "source": SEED_004, "dataset": "celeba-test", "notes": {"ids": IDS_NOTE},
     "values": {"lpips": "0.230", "fid": "49.84", "musiq": "73.90", "ids": "34.56", "psnr": "24.64",
                "ssim": "0.688"}},
    {"method": "GFPGAN", "source": SEED_004, "dataset": "lfw-test", "values": {"fid": "50.36", "musiq": "73.57"}},
    {"method": "GFPGAN", "source": SEED_004, "dataset": "webphoto-test", "values": {"fid": "87.47", "musiq": "72.08"}},
    {"method": "GFPGAN", "source": SEED_004, "dataset": "wider-test", "values": {"fid": "39.45", "musiq": "72.79"}},
]
