import dask.array as da
import numpy as np
import pytest

from emberxr.tokens import crop_to_multiple, pad_to_multiple, patchify, unpatchify
from emberxr.data.stripes import iter_tile_tokens
from emberxr.data.tiling import stitch


@pytest.mark.parametrize(
    ("shape", "chunks", "tile", "overlap", "strict"),
    [
        ((3, 64, 64), (3, 16, 16), 32, 0, False),  # chunks on the patch grid: copied straight into tokens
        ((3, 70, 50), (2, 16, 16), 32, 8, False),  # edge tiles flush with the border, time chunks
        ((2, 70, 50), (2, 20, 13), 32, 0, True),  # chunks off the patch grid: concatenate path
        ((2, 40, 36), None, 16, 0, False),  # plain numpy
    ],
)
def test_tile_tokens_equal_patchify_of_the_window(shape, chunks, tile, overlap, strict):
    x = np.random.default_rng(0).integers(0, 255, size=shape).astype(np.uint8)
    data = da.from_array(x, chunks=chunks) if chunks else x
    out = list(iter_tile_tokens(data, 8, tile, overlap, strict=strict))
    assert out
    for t, tok in out:
        win = x[..., t.y0 : t.y0 + t.h, t.x0 : t.x0 + t.w]
        win = crop_to_multiple(win, 8) if strict else pad_to_multiple(win, 8)[0]
        np.testing.assert_array_equal(tok, patchify(win, 8))


def test_tiles_stitch_back_to_the_raster():
    x = np.random.default_rng(1).random((2, 48, 80)).astype(np.float32)
    tiles, pieces = [], []
    for t, tok in iter_tile_tokens(da.from_array(x, chunks=(1, 16, 16)), 16, 32, 16):
        tiles.append(t)
        pieces.append(unpatchify(tok, 16, (t.h // 16, t.w // 16)))
    np.testing.assert_array_equal(stitch(tiles, pieces, x.shape), x)
