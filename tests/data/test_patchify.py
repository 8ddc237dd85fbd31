import numpy as np
import pytest
import torch

from emberxr.data.patchify import (
    crop_to_multiple,
    grid_shape,
    pad_to_multiple,
    patch_mean,
    patchify,
    unpatchify,
    valid_token_mask,
)
from emberxr.errors import ConfigError


def test_round_trip_numpy_and_torch():
    x = np.arange(3 * 32 * 48, dtype=np.float32).reshape(3, 32, 48)
    t = patchify(x, 16)
    assert t.shape == (3, 6, 256)
    # token n = gy * Gx + gx holds the pixels of that patch, row-major
    np.testing.assert_array_equal(t[1, 4], x[1, 16:32, 16:32].ravel())
    np.testing.assert_array_equal(unpatchify(t, 16, (2, 3)), x)
    tt = patchify(torch.from_numpy(x), 16)
    assert torch.equal(tt, torch.from_numpy(np.ascontiguousarray(t)))
    assert torch.equal(unpatchify(tt, 16, (2, 3)), torch.from_numpy(x))


def test_pad_crop_and_grid_odd_size():
    x = np.ones((2, 130, 97), np.float32)
    padded, (ph, pw) = pad_to_multiple(x, 16)
    assert padded.shape == (2, 144, 112) and (ph, pw) == (14, 15)
    assert padded[:, 130:].sum() == 0 and padded[:, :, 97:].sum() == 0
    assert crop_to_multiple(x, 16).shape == (2, 128, 96)
    assert grid_shape(130, 97, 16) == (9, 7)
    assert grid_shape(130, 97, 16, strict=True) == (8, 6)


def test_valid_token_mask_marks_exact_footprint():
    valid = np.ones((130, 97), bool)
    valid[:, 90:] = False  # the event's own invalid border
    v, _ = pad_to_multiple(valid, 16, value=False)
    m = valid_token_mask(v, 16).reshape(9, 7)
    # column 5 covers x 80..95 (partly valid), column 6 covers 96..111: x=96 is invalid
    assert m[:, :6].all() and not m[:, 6].any()
    assert m.sum() == 9 * 6


def test_patch_mean_over_valid_pixels():
    x = np.zeros((32, 32), np.float32)
    x[:16, :8] = 1.0
    valid = np.ones((32, 32), bool)
    valid[:16, 8:] = False
    m = patch_mean(x, 16, valid)
    assert m[0] == pytest.approx(1.0)  # only the valid half counts
    assert m[1] == 0.0
    assert patch_mean(x, 16)[0] == pytest.approx(0.5)


def test_errors_name_the_fix():
    with pytest.raises(ConfigError, match="pad_to_multiple"):
        patchify(np.zeros((10, 17)), 16)
    with pytest.raises(ConfigError, match="grid"):
        unpatchify(np.zeros((5, 256)), 16, (2, 3))
    with pytest.raises(ConfigError, match="positive integer"):
        patchify(np.zeros((16, 16)), 0)
