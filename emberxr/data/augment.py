"""Physically consistent augmentation: flips and 90° rotations of north-up rasters.

Every band, frame and mask of a sample gets the same spatial transform, and the quantities that
carry a direction are transformed to match, so the wind still points the same way relative to
the fire:

* wind ``(u, v)`` (towards east, towards north): a left-right flip negates ``u``, an up-down flip
  negates ``v``, one counter-clockwise ``np.rot90`` on ``(y, x)`` maps ``(u, v) -> (-v, u)``;
* an ``aspect`` band (degrees clockwise from north, the direction the slope faces) is
  transformed as the vector ``(sin a, cos a)`` would be (exact angle arithmetic); negative or NaN
  aspect (flat ground) is left unchanged;
* direction pairs among the static or dynamic bands (:func:`emberxr.schema.vector_pairs`:
  ``<name>_sin``/``<name>_cos`` of a compass bearing, ``<name>_u``/``<name>_v``) are transformed
  like the wind, as (east, north) components; NaN (missing) stays NaN.

The transform is ``rot90(flip_ud(flip_lr(x)), k)``. Apply it to *raw* wind and aspect (before
normalisation) so it stays exact whatever the normaliser does; :class:`FireSampleDataset` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emberxr.schema import vector_pairs

__all__ = ["SPATIAL_KEYS", "AugPlan", "Augment"]

#: sample keys holding ``[..., H, W]`` rasters that move with the augmentation
SPATIAL_KEYS = ("fire", "target", "valid", "static", "dynamic", "pixels")
ASPECT = "aspect"


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


@dataclass(frozen=True)
class AugPlan:
    """One draw of the augmentation: optional flips then ``k`` counter-clockwise quarter turns."""

    flip_lr: bool = False
    flip_ud: bool = False
    k: int = 0

    @property
    def identity(self) -> bool:
        """True when the plan changes nothing."""
        return not (self.flip_lr or self.flip_ud or self.k % 4)

    @property
    def swaps_axes(self) -> bool:
        """True when H and W trade places (odd number of quarter turns)."""
        return self.k % 2 == 1

    def spatial(self, x: Any) -> Any:
        """Transform the last two axes ``[..., H, W]`` of a numpy array or torch tensor."""
        if self.identity:
            return x
        if _is_torch(x):
            import torch

            dims = [d for d, on in ((-1, self.flip_lr), (-2, self.flip_ud)) if on]
            if dims:
                x = torch.flip(x, dims)
            return torch.rot90(x, self.k % 4, dims=(-2, -1)) if self.k % 4 else x
        if self.flip_lr:
            x = x[..., :, ::-1]
        if self.flip_ud:
            x = x[..., ::-1, :]
        if self.k % 4:
            x = np.rot90(x, self.k % 4, axes=(-2, -1))
        return np.ascontiguousarray(x)

    def vector(self, uv: Any) -> Any:
        """Transform vectors ``[..., 2]`` = (east, north) components to match :meth:`spatial`."""
        if self.identity:
            return uv
        u, v = uv[..., 0], uv[..., 1]
        if self.flip_lr:
            u = -u
        if self.flip_ud:
            v = -v
        for _ in range(self.k % 4):
            u, v = -v, u
        if _is_torch(uv):
            import torch

            return torch.stack([u, v], dim=-1)
        return np.stack([u, v], axis=-1).astype(np.asarray(uv).dtype, copy=False)

    def aspect(self, degrees: np.ndarray) -> np.ndarray:
        """Transform aspect angles (degrees clockwise from north); flat (<0 / NaN) unchanged.

        Same map as :meth:`vector` on ``(sin a, cos a)``, done with exact angle arithmetic: a
        left-right flip maps ``a -> 360 - a``, an up-down flip ``a -> 180 - a``, a quarter turn
        counter-clockwise ``a -> a - 90``.
        """
        a = np.asarray(degrees)
        if self.identity:
            return a
        out = a.astype(np.float64)
        if self.flip_lr:
            out = 360.0 - out
        if self.flip_ud:
            out = 180.0 - out
        out = np.mod(out - 90.0 * (self.k % 4), 360.0)
        keep = ~np.isfinite(a) | (a < 0)
        return np.where(keep, a, out).astype(np.result_type(a.dtype, np.float32), copy=False)

    def band_values(self, bands: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
        """Transform the values of direction-carrying bands of ``[..., C, H, W]`` (channels on axis
        -3): an ``aspect`` band in degrees and every direction pair (:func:`~emberxr.schema.vector_pairs`).

        Returns ``bands`` itself when nothing carries a direction; otherwise a float copy.
        """
        names = [str(b) for b in band_names]
        pairs = vector_pairs(names)
        if self.identity or (ASPECT not in names and not pairs):
            return bands
        out = np.array(bands, dtype=np.result_type(np.asarray(bands).dtype, np.float32), copy=True)
        if ASPECT in names:
            i = names.index(ASPECT)
            out[..., i, :, :] = self.aspect(out[..., i, :, :])
        if pairs:
            east, north = (list(c) for c in zip(*pairs))
            turned = self.vector(np.stack([out[..., east, :, :], out[..., north, :, :]], axis=-1))
            out[..., east, :, :] = turned[..., 0]
            out[..., north, :, :] = turned[..., 1]
        return out


@dataclass
class Augment:
    """Random flips and 90° rotations applied consistently to a whole sample.

    Parameters
    ----------
    flips
        Draw a left-right and an up-down flip, each with probability 1/2.
    rot90
        Draw 0-3 counter-clockwise quarter turns uniformly. Non-square tiles then swap H and W;
        the dataset pads / crops to the patch size afterwards.

    Examples
    --------
    >>> import numpy as np
    >>> plan = AugPlan(k=1)                       # one quarter turn counter-clockwise
    >>> plan.vector(np.array([1.0, 0.0]))         # wind towards the east now points north
    array([-0.,  1.])
    """

    flips: bool = True
    rot90: bool = True

    def draw(self, rng: np.random.Generator) -> AugPlan:
        """Draw one :class:`AugPlan`."""
        lr = bool(self.flips and rng.random() < 0.5)
        ud = bool(self.flips and rng.random() < 0.5)
        k = int(rng.integers(0, 4)) if self.rot90 else 0
        return AugPlan(lr, ud, k)

    def __call__(
        self, sample: Mapping[str, Any], rng: np.random.Generator, plan: AugPlan | None = None
    ) -> dict[str, Any]:
        """Augment a (pixel) sample dict: rasters in :data:`SPATIAL_KEYS`, ``wind`` ``[T, 2]`` and
        the direction-carrying bands of ``static`` and ``dynamic`` (names from
        ``sample["static_names"]`` / ``sample["dynamic_names"]``).

        Apply it before tokenisation and, for exact directions, to raw (unnormalised) wind and
        aspect. The plan used is stored under ``"aug"``.
        """
        plan = plan or self.draw(rng)
        out = dict(sample)
        names = sample.get("static_names")
        if names is not None and "static" in out:
            out["static"] = plan.band_values(np.asarray(out["static"]), names)
        dnames = sample.get("dynamic_names")
        if dnames is not None and out.get("dynamic") is not None:
            out["dynamic"] = plan.band_values(np.asarray(out["dynamic"]), dnames)
        for key in SPATIAL_KEYS:
            if key in out and out[key] is not None:
                out[key] = plan.spatial(out[key])
        if "wind" in out and out["wind"] is not None:
            out["wind"] = plan.vector(out["wind"])
        out["aug"] = plan
        return out
