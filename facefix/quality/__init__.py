"""Image quality: the degradations that make training and test inputs, the loss networks and the metrics.

Both ``train`` and ``eval`` build on this layer; it imports neither of them.
"""
