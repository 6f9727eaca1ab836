"""Defaults of the limits a user can change on the command line, importable without torch or OpenCV."""

#: largest picture read_image decodes, in megapixels: a 1.2 MB PNG can claim 20000 x 20000 and take 8 GB
DEFAULT_MEGAPIXELS = 180

#: tile side, in input pixels, of the background upsampler (Real-ESRGAN's own default)
DEFAULT_TILE = 400
