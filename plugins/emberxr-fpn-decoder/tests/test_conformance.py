"""The FPN decoder passes emberxr's conformance checks: one test per check.

Run with the plugin installed: ``pip install -e plugins/emberxr-fpn-decoder --no-deps``, then
``python -m pytest plugins/emberxr-fpn-decoder/tests``. The ids read ``fpn:<check>`` for the decoder
alone and ``fpn:emberformer:<check>`` for EmberFormer built with it.
"""

from __future__ import annotations

import pytest
import torch

from emberxr.testing import conformance_cases

torch.set_num_threads(1)


@pytest.mark.parametrize("case", conformance_cases("fpn"), ids=str)
def test_fpn_conforms(case):
    case()
