import numpy as np
import pytest

from emberxr.data.tiling import eval_tiles, front_map, random_crop, stitch, tile_view
from emberxr.errors import ConfigError


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"), [((130, 97), 32, 8), ((64, 64), 32, 0), ((50, 200), 48, 16)]
)
def test_eval_tiles_cover_each_pixel_once_after_stitching(shape, tile, overlap):
    tiles = eval_tiles(shape, tile, overlap)
    img = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    owners = np.zeros(shape, int)
    for t in tiles:
        cy0, cy1, cx0, cx1 = t.core
        owners[cy0:cy1, cx0:cx1] += 1
        assert t.y0 + t.h <= shape[0] and t.x0 + t.w <= shape[1]
    assert (owners == 1).all()
    pieces = [img[t.slices] for t in tiles]
    np.testing.assert_array_equal(stitch(tiles, pieces, shape), img)


def test_tile_larger_than_event_is_the_full_event(event):
    tiles = eval_tiles(event, 256, 16)
    assert len(tiles) == 1 and (tiles[0].h, tiles[0].w) == (32, 40)
    view = tile_view(event, eval_tiles(event, 16, 0)[1])
    assert view.sizes["y"] == 16 and view.sizes["x"] == 16
    assert float(view.x[0]) == float(event.x[16])


def test_bad_tile_settings_listed_together():
    with pytest.raises(ConfigError) as info:
        eval_tiles((64, 64), 0, -1)
    assert len(info.value.problems) == 2


def test_random_crops_contain_the_front_more_often_than_uniform(make_synthetic_event):
    ev = make_synthetic_event(height=96, width=96, steps=6, seed=3)
    fire = ev["fire"].values > 0
    t = 2
    new = fire[t + 1] & ~fire[t]
    fm = front_map(ev, block=8)
    assert fm.new_burn[t].sum() == new.sum()

    def hit_rate(bias):
        rng = np.random.default_rng(1)
        hits = 0
        for _ in range(300):
            c = random_crop(ev["fire"].shape, 24, rng, front=fm, t=t, front_bias=bias)
            hits += bool(new[c.slices].any())
        return hits / 300

    biased, uniform = hit_rate(1.0), hit_rate(0.0)
    assert biased > 0.85
    assert biased > uniform + 0.2
