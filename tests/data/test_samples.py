import numpy as np
import pytest

from emberxr.data.samples import SampleIndex, history_histogram
from emberxr.errors import ConfigError


def test_every_t_with_history_and_target_is_a_sample(events):
    idx = SampleIndex.from_events(events[:2], max_history=3)
    # 8 frames -> t = 0..6 (target t+1 <= 7)
    assert len(idx) == 14
    e, t, h = idx[0]
    assert (e, t, h) == (0, 0, 1)
    assert idx[6] == (0, 6, 3)
    assert idx.history_slice(6) == slice(4, 7)
    assert idx.histogram() == {1: 2, 2: 2, 3: 10}


def test_min_history_and_limits():
    idx = SampleIndex.from_lengths([5, 2], max_history=32, min_history=2)
    assert list(zip(idx.event.tolist(), idx.t.tolist())) == [(0, 1), (0, 2), (0, 3)]
    assert history_histogram(np.array([1, 1, 3])) == {1: 2, 3: 1}
    with pytest.raises(ConfigError) as info:
        SampleIndex.from_lengths([5], max_history=33, min_history=0)
    assert len(info.value.problems) == 2
