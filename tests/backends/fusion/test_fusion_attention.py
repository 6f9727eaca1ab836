"""The feature-fusion block: shapes, exact identity at init, gradient flow."""

from __future__ import annotations

import torch

from facefix.backends.fusion.attention import FeatureFusionBlock


def test_shapes_and_identity_at_init():
    block = FeatureFusionBlock(dim=64, feature_channels=16, num_heads=4)
    tokens, features = torch.randn(2, 10, 64), torch.randn(2, 16, 8, 8)
    out = block(tokens, features)
    assert out.shape == tokens.shape
    assert torch.equal(out, tokens)


def test_gradients_reach_every_parameter_after_one_step():
    torch.manual_seed(0)
    block = FeatureFusionBlock(dim=32, feature_channels=8, num_heads=4)
    tokens, features, target = torch.randn(2, 6, 32), torch.randn(2, 8, 4, 4), torch.randn(2, 6, 32)
    optimizer = torch.optim.SGD(block.parameters(), lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        loss = (block(tokens, features) - target).pow(2).mean()
        loss.backward()
        optimizer.step()
    assert block.output.weight.abs().sum() > 0
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_attention_actually_uses_the_spatial_features():
    torch.manual_seed(0)
    block = FeatureFusionBlock(dim=32, feature_channels=8, num_heads=4)
    torch.nn.init.normal_(block.output.weight)
    tokens = torch.randn(1, 6, 32)
    a = block(tokens, torch.randn(1, 8, 4, 4))
    b = block(tokens, torch.randn(1, 8, 4, 4))
    assert not torch.allclose(a, b)
