"""The numbers the papers print for ``fusion`` (plain data; :mod:`facefix.eval.paper` reads it).

Seed 000 Table 1: "Our algorithm" and the GFPGAN row (fusion's default weights are GFPGAN v1.4; the
paper's LPIPS is left out: ablation only, printed as percentages), then GFPGAN's row of seed 004 Table 1.
"""

PAPER_ROWS = [
    {"method": "fusion (paper)", "source": "seed 000 (fusion) Table 1", "values": {
        "lfw-test": {"fid": "49.36", "niqe": "3.754"},
        "celebchild-test": {"fid": "107.74", "niqe": "4.329"},
        "webphoto-test": {"fid": "87.03", "niqe": "4.019"}}},
    {"method": "GFPGAN", "source": "seed 000 (fusion) Table 1", "values": {
        "lfw-test": {"fid": "49.96", "niqe": "3.882"},
        "celebchild-test": {"fid": "111.78", "niqe": "4.349"},
        "webphoto-test": {"fid": "87.35", "niqe": "4.144"}}},
    # seed 004 Table 1: LPIPS, FID, MUSIQ, IDS, PSNR, SSIM on CelebA-Test; FID, MUSIQ on LFW, WebPhoto, WIDER
    {"method": "GFPGAN", "source": "seed 004 (InterLCM) Table 1",
     "printed": ["0.230", "49.84", "73.90", "34.56", "24.64", "0.688", "50.36", "73.57", "87.47", "72.08",
                 "39.45", "72.79"]},
]
