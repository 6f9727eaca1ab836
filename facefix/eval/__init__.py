"""Evaluation: the papers' metrics, data sets, and `facefix eval`."""
