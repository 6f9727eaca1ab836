"""One module per ``facefix`` command; :mod:`facefix.cli` attaches them."""
