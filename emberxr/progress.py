"""Progress bars: the one place that decides how emberxr's tqdm bars behave.

On a terminal (or in a notebook) a bar redraws about ten times a second. When stderr is not a
terminal (a log file, CI, a pipe), a bar is written when it starts, at most once every
:data:`LOG_INTERVAL` seconds, and when it ends, so a log holds a few lines per bar instead of one
per step. Postfix and description changes never force a redraw; they show with the next one.

Every bar in emberxr comes from :func:`progress`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm as _tqdm

__all__ = ["LOG_INTERVAL", "Bar", "interactive", "progress"]

LOG_INTERVAL = 30.0
"""Seconds between redraws of a bar when stderr is not a terminal."""
TERMINAL_INTERVAL = 0.1
"""Seconds between redraws on a terminal or in a notebook."""


class Bar(_tqdm):
    """A tqdm bar whose postfix and description updates wait for the next scheduled redraw."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = False, **kwargs: Any) -> None:
        """Set the postfix (shown at the next redraw unless ``refresh``)."""
        super().set_postfix(ordered_dict, refresh=refresh, **kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = False) -> None:
        """Set the postfix string (shown at the next redraw unless ``refresh``)."""
        super().set_postfix_str(s, refresh=refresh)

    def set_description(self, desc: str | None = None, refresh: bool = False) -> None:
        """Set the description (shown at the next redraw unless ``refresh``)."""
        super().set_description(desc, refresh=refresh)


def interactive() -> bool:
    """True when bars can redraw in place: stderr is a terminal, or tqdm draws notebook widgets."""
    if any(c.__module__ == "tqdm.notebook" for c in _tqdm.__mro__):
        return True
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def progress(
    iterable: Iterable[Any] | None = None,
    desc: str | None = None,
    total: float | None = None,
    *,
    enabled: bool = True,
    unit: str = "it",
    leave: bool = False,
    delay: float = 0.0,
    **kwargs: Any,
) -> Bar:
    """A progress bar over ``iterable`` (or a manual one with ``total``), set up for where it draws.

    Parameters
    ----------
    iterable
        What to iterate over; None for a manual bar (``bar.update(n)``).
    desc
        Short label (``"load events"``, ``"epoch 3/10"``).
    total
        Number of items, when ``len(iterable)`` does not give it.
    enabled
        False gives a silent bar (the ``training.progress: false`` setting, ``--no-progress``).
    unit, leave
        As in tqdm; on a terminal a finished bar vanishes unless ``leave`` (in a log file its
        final state always stays).
    delay
        Show the bar only once the work has taken this many seconds (for work that is usually
        quick, such as predicting a small scene).
    **kwargs
        Other tqdm options (``position``, ``initial`` ...); the refresh settings are this
        module's.

    Returns
    -------
    Bar
        Iterate over it, or ``update``/``set_postfix``/``close`` it (also a context manager).
    """
    live = interactive()
    interval = TERMINAL_INTERVAL if live else LOG_INTERVAL
    return Bar(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        leave=leave or not live,
        disable=not enabled,
        dynamic_ncols=live,
        mininterval=interval,
        maxinterval=max(interval, 10.0),
        delay=delay,
        **kwargs,
    )
