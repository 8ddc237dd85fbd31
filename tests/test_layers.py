"""emberxr.layers.AttentionBlock: the fused (scaled_dot_product_attention) and explicit paths agree,
including the masking of invalid keys and rows without any valid key."""

from __future__ import annotations

import pytest
import torch

from emberxr.layers import AttentionBlock


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 5, 16, generator=g)
    valid = torch.rand(6, 5, generator=g) > 0.4
    valid[0] = False  # a row without any valid key
    valid[1] = True
    return x, valid


@pytest.mark.parametrize("masked", [True, False])
def test_fused_and_explicit_attention_agree(masked):
    torch.manual_seed(0)
    block = AttentionBlock(16, 4, dropout=0.0).train()
    x, valid = _inputs()
    kv = valid if masked else None
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    outs = []
    for fused, xi in zip((True, False), xs):
        block.fused = fused
        out = block(xi, kv)
        out.square().sum().backward()
        outs.append(out)
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, atol=1e-4, rtol=1e-4)


def test_invalid_keys_are_ignored_and_empty_rows_get_no_attention():
    torch.manual_seed(0)
    block = AttentionBlock(16, 4).eval()
    x, valid = _inputs()
    changed = x.clone()
    changed[~valid] += 10.0  # different values at every invalid key
    with torch.no_grad():
        a, b = block(x, valid), block(changed, valid)
    # positions that are valid see the same keys, so their outputs match
    torch.testing.assert_close(a[valid], b[valid], atol=1e-5, rtol=1e-5)
    # a row without valid keys: the attention output is zero (only the projection's bias is added)
    with torch.no_grad():
        h = x[0] + block.proj.bias
        h = h + block.mlp(block.norm2(h))
    torch.testing.assert_close(a[0], h, atol=1e-5, rtol=1e-5)


def test_weights_are_kept_only_when_asked():
    block = AttentionBlock(16, 4).eval()
    x, valid = _inputs()
    with torch.no_grad():
        block(x, valid)
        assert block.weights is None  # the fused path keeps nothing
        block.keep_weights = True
        block(x, valid)
    w = block.weights
    assert w.shape == (6, 4, 5, 5)
    assert float(w[0].abs().sum()) == 0.0  # no valid key: no weight
    torch.testing.assert_close(w[1:].sum(-1), torch.ones(5, 4, 5))
    assert float(w[2:][~valid[2:, None, None, :].expand_as(w[2:])].abs().sum()) == 0.0


@pytest.mark.parametrize("fused", [True, False])
def test_query_rows_equal_the_same_rows_of_the_whole_output(fused):
    torch.manual_seed(0)
    block = AttentionBlock(16, 4).eval()
    block.fused = fused
    x, valid = _inputs()
    query = torch.tensor([4, 3, 0, 2, 4, 1])  # a row per sequence, a row 0 without valid keys too
    with torch.no_grad():
        whole = block(x, valid)
        block.keep_weights = True
        rows = block(x, valid, query=query)
    assert rows.shape == (6, 16)
    torch.testing.assert_close(rows, whole[torch.arange(6), query], atol=1e-5, rtol=1e-5)
    # the kept weights are the query rows' only, over every key
    assert block.weights.shape == (6, 4, 1, 5)
    torch.testing.assert_close(block.weights[1:, :, 0].sum(-1), torch.ones(5, 4))
    # rows that are not asked for take no part: changing their queries changes nothing
    x2 = x.clone()
    others = torch.ones(6, 5, dtype=torch.bool)
    others[torch.arange(6), query] = False
    x2[others & ~valid] += 5.0  # only positions that are neither queried nor keys
    with torch.no_grad():
        torch.testing.assert_close(block(x2, valid, query=query), rows, atol=1e-5, rtol=1e-5)
