"""The feature-fusion block of the fusion backend's paper: attention that refines the W+ code.

Each block lets the W+ tokens (one per StyleGAN layer) attend to each other, projects them, then lets
them query the encoder's spatial features at one scale (keys and values). The block is residual and
its output projection starts at zero, so a fresh block is an exact identity: loaded on top of GFPGAN
weights, the network reproduces GFPGAN until training moves it.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureFusionBlock(nn.Module):
    """Self-attention over W+ tokens, a linear projection, then cross-attention to spatial features.

    Args:
        dim: width of a W+ token (the style width, 512 for the released models).
        feature_channels: channels of the spatial features used as keys and values.
        num_heads: attention heads; the paper uses ``dim / num_heads = 64``.
    """

    def __init__(self, *, dim: int, feature_channels: int, num_heads: int):
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.projection = nn.Linear(dim, dim)
        self.norm_query = nn.LayerNorm(dim)
        self.feature_projection = nn.Linear(feature_channels, dim)
        self.norm_features = nn.LayerNorm(dim)
        self.cross_attention = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.output = nn.Linear(dim, dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``tokens``: (B, L, dim) W+ code; ``features``: (B, C, H, W). Returns the refined W+."""
        hidden = self.norm_tokens(tokens)
        hidden = hidden + self.self_attention(hidden, hidden, hidden, need_weights=False)[0]
        hidden = self.projection(hidden)
        keys = self.norm_features(self.feature_projection(features.flatten(2).transpose(1, 2)))
        query = self.norm_query(hidden)
        hidden = hidden + self.cross_attention(query, keys, keys, need_weights=False)[0]
        return tokens + self.output(hidden)
