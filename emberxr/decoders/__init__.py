"""Spatial decoders for token models (entry-point group ``emberxr.decoders``).

A decoder maps a patch context grid ``[B, d, Gy, Gx]`` and full-resolution features
``[B, Cf, H, W]`` to pixel logits ``[B, 1, H, W]`` (see :mod:`emberxr.decoders.base`).
"""
