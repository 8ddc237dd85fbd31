"""The products namespace is lazy and every name it lists exists."""

from __future__ import annotations

import subprocess
import sys


def test_products_namespace_is_lazy_and_complete():
    code = (
        "import sys, emberxr.products as p; assert 'torch' not in sys.modules; "
        "names = [n for n in p.__all__ if getattr(p, n) is None]; assert not names, names; print(len(p.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == 12
