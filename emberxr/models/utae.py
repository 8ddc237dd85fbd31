"""``utae``: U-TAE (Garnot & Landrieu, ICCV 2021), written from the paper.

A U-Net whose encoder is shared over dates, with Lightweight Temporal Attention (L-TAE) at the
lowest resolution:

1. every date ``[fire_t, wind_t (2 planes), static, dynamic_t]`` goes through the same conv encoder
   (levels 1..L, stride-2 convs between levels);
2. at level L, each pixel's sequence of features is attended by L-TAE: ``nhead`` heads, each with
   a learned *master query* (no query from the input), keys from a linear map, values = the input
   channels split in ``nhead`` groups; padded dates get ``-inf`` before the softmax (a sequence
   with no real date gets zero attention);
3. the attention maps ``[B, nhead, T, h, w]`` are upsampled bilinearly to every skip resolution
   and collapse the skip feature maps over time with channel grouping (head g weights channel
   group g);
4. a conv decoder (transposed conv up, concat the collapsed skip, conv block) returns to full
   resolution and a small head outputs one logit per pixel.

Positions are counted backwards from the prediction time (sinusoidal code of "steps before the
last real frame", where the paper used acquisition dates), so extra left padding changes nothing.
The paper's 1.1 M-parameter widths are the ``"paper"`` preset; the default ``"small"`` preset
halves the widths for CPU training (see ``docs/models.md``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emberxr.errors import ConfigError, Problem
from emberxr.layers import ConvBlock, groups_for

from .base import FireModel, ModelRequirements, apply_valid, dynamic_bands, static_bands, steps_back

PRESETS: dict[str, dict[str, Any]] = {
    # Garnot & Landrieu 2021, PASTIS semantic segmentation configuration
    "paper": dict(
        encoder_widths=[64, 64, 64, 128],
        decoder_widths=[32, 32, 64, 128],
        n_head=16,
        ltae_dim=256,
        d_k=4,
        ltae_mlp=[256, 128],
    ),
    # CPU default: same structure, fewer channels
    "small": dict(
        encoder_widths=[16, 32, 32, 64],
        decoder_widths=[16, 32, 32, 64],
        n_head=8,
        ltae_dim=64,
        d_k=4,
        ltae_mlp=[64, 64],
    ),
}


def sinusoid(positions: Tensor, d: int, period: float = 1000.0) -> Tensor:
    """Sinusoidal code ``[..., d]`` of (integer) positions."""
    half = d // 2
    freq = torch.exp(
        -math.log(period) * torch.arange(half, device=positions.device, dtype=torch.float32) / max(half, 1)
    )
    ang = positions.to(torch.float32)[..., None] * freq
    pe = torch.cat([ang.sin(), ang.cos()], dim=-1)
    return F.pad(pe, (0, d - pe.shape[-1])) if pe.shape[-1] < d else pe


class LTAE(nn.Module):
    """Lightweight Temporal Attention Encoder with a master query per head.

    ``forward(x [S, T, C], positions [S, T], valid [S, T]) -> (out [S, C_out], attn [S, nhead, T])``.
    """

    def __init__(
        self, in_channels: int, d_model: int, nhead: int, d_k: int, mlp: list[int], dropout: float = 0.2
    ):
        super().__init__()
        self.nhead, self.d_k, self.d_model = nhead, d_k, d_model
        self.in_norm = nn.GroupNorm(groups_for(in_channels, nhead), in_channels)
        self.inp = nn.Linear(in_channels, d_model)
        self.query = nn.Parameter(torch.randn(nhead, d_k) * (2.0 / d_k) ** 0.5)
        self.key = nn.Linear(d_model, nhead * d_k)
        layers: list[nn.Module] = []
        dims = [d_model, *mlp]
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(dims[-1])

    def forward(self, x: Tensor, positions: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        S, T, C = x.shape
        x = self.in_norm(x.reshape(S * T, C)).reshape(S, T, C)  # per date: no mixing over time
        x = self.inp(x) + sinusoid(positions, self.d_model)
        k = self.key(x).reshape(S, T, self.nhead, self.d_k)
        scores = torch.einsum("sthk,hk->sht", k, self.query) / math.sqrt(self.d_k)
        scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
        none = ~valid.any(dim=1)
        scores = scores.masked_fill(none[:, None, None], 0.0)
        attn = torch.softmax(scores, dim=-1) * valid[:, None, :].to(x.dtype)  # [S, h, T]
        v = x.reshape(S, T, self.nhead, self.d_model // self.nhead)
        out = torch.einsum("sht,sthc->shc", self.drop(attn), v).reshape(S, self.d_model)
        return self.out_norm(self.mlp(out)), attn


def grouped_temporal_sum(feat: Tensor, attn: Tensor) -> Tensor:
    """Collapse ``feat [B, T, C, H, W]`` over time with ``attn [B, h, T, H, W]`` (channel group g ← head g)."""
    B, T, C, H, W = feat.shape
    heads = attn.shape[1]
    g = feat.reshape(B, T, heads, C // heads, H, W)
    return torch.einsum("bthcyx,bhtyx->bhcyx", g, attn).reshape(B, C, H, W)


class UTAE(FireModel):
    """U-TAE for next-step fire masks (see the module docstring).

    Parameters
    ----------
    in_static
        Number of static bands (each date sees ``[fire, wind u, wind v, static..., dynamic...]``).
    patch_size
        Common contract (unused).
    max_history
        Most recent real frames attended (older ones are masked).
    preset
        ``"small"`` (default, CPU) or ``"paper"`` (the published widths).
    encoder_widths, decoder_widths
        Channels per level (finest first) of the shared encoder and of the decoder.
    n_head, ltae_dim, d_k, ltae_mlp
        L-TAE heads, input width, key size per head and output MLP widths. Every encoder width must
        be divisible by ``n_head``. (Named apart from EmberFormer's ``nhead``/``d_model`` so one
        training config can carry both.) ``None`` = the preset's value.
    ltae_dropout
        Attention dropout in L-TAE.
    in_dynamic
        Number of dynamic bands; each date's are extra channels of that date.
    """

    name = "utae"
    requires = ModelRequirements(tokens=False, max_history=8, uses_static=True, uses_wind=True)
    presets = PRESETS

    def __init__(
        self,
        in_static: int = 0,
        patch_size: int = 16,
        max_history: int = 8,
        preset: str = "small",
        encoder_widths: list[int] | None = None,
        decoder_widths: list[int] | None = None,
        n_head: int | None = None,
        ltae_dim: int | None = None,
        d_k: int | None = None,
        ltae_mlp: list[int] | None = None,
        ltae_dropout: float = 0.2,
        in_dynamic: int = 0,
    ):
        super().__init__()
        if preset not in PRESETS:
            raise ConfigError(
                [Problem(f"preset={preset!r}", f"use one of {', '.join(PRESETS)}")], subject="utae"
            )
        base = PRESETS[preset]
        enc = [int(w) for w in (encoder_widths or base["encoder_widths"])]
        dec = [int(w) for w in (decoder_widths or base["decoder_widths"])]
        heads = int(n_head or base["n_head"])
        dm = int(ltae_dim or base["ltae_dim"])
        dk = int(d_k or base["d_k"])
        mlp_ = [int(m) for m in (ltae_mlp or base["ltae_mlp"])]
        problems = []
        if len(enc) != len(dec):
            problems.append(
                Problem(f"{len(enc)} encoder widths vs {len(dec)} decoder widths", "give one per level")
            )
        bad = [w for w in enc if w % heads]
        if bad:
            problems.append(
                Problem(f"encoder widths {bad} not divisible by n_head={heads}", "change widths or n_head")
            )
        if not 0.0 <= float(ltae_dropout) < 1.0:
            problems.append(Problem(f"ltae_dropout={ltae_dropout}", "use a probability in [0, 1), e.g. 0.2"))
        if dm % heads:
            problems.append(
                Problem(f"ltae_dim={dm} not divisible by n_head={heads}", "change ltae_dim or n_head")
            )
        if problems:
            raise ConfigError(problems, subject="utae")
        self.in_static, self.window, self.nhead = int(in_static), int(max_history), heads
        self.in_dynamic = int(in_dynamic)
        cin = 3 + self.in_static + self.in_dynamic
        self.enc = nn.ModuleList(
            ConvBlock(cin if i == 0 else enc[i - 1], w, n=2, stride=1 if i == 0 else 2)
            for i, w in enumerate(enc)
        )
        self.ltae = LTAE(enc[-1], dm, heads, dk, mlp_, ltae_dropout)
        self.bottom = nn.Conv2d(mlp_[-1], dec[-1], 1)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(len(enc) - 1)):
            self.up.append(nn.ConvTranspose2d(dec[i + 1], dec[i], 4, stride=2, padding=1))
            self.dec.append(ConvBlock(dec[i] + enc[i], dec[i], n=2))
        self.head = nn.Sequential(ConvBlock(dec[0], 16, n=1), nn.Conv2d(16, 1, 1))

    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Pixel logits ``[B, 1, H, W]``; :attr:`last_attention` holds the L-TAE attention
        ``[B, h*w, nhead, T]`` at the lowest resolution (h, w = H, W / 2**(levels-1))."""
        fire, wind = batch["fire"].to(torch.float32), batch["wind"].to(torch.float32)
        valid_t = batch["valid_t"].to(torch.bool)
        B, T, H, W = fire.shape
        back = steps_back(valid_t)
        # every step is encoded (no data-dependent trimming, so the forward traces and exports);
        # padded steps and steps older than the window are masked in the L-TAE and the decoder
        keep_c = valid_t & (back < self.window)
        back_c = back
        L = T
        static = static_bands(batch, self.in_static)
        dyn = [dynamic_bands(batch, self.in_dynamic)] if self.in_dynamic else []
        x = torch.cat(
            [
                fire[:, :, None],
                wind[:, :, :, None, None].expand(B, L, 2, H, W),
                static[:, None].expand(B, L, self.in_static, H, W),
                *dyn,
            ],
            dim=2,
        ).reshape(B * L, -1, H, W)
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x.reshape(B, L, *x.shape[1:]))
        low = skips[-1]  # [B, L, C, h, w]
        _, _, C, h, w = low.shape
        seq = low.permute(0, 3, 4, 1, 2).reshape(B * h * w, L, C)
        pos = back_c[:, None, None, :].expand(B, h, w, L).reshape(B * h * w, L)
        kv = keep_c[:, None, None, :].expand(B, h, w, L).reshape(B * h * w, L)
        out, attn = self.ltae(seq, pos, kv)
        if self.record_attention:
            self.last_attention = attn.reshape(B, h * w, self.nhead, L).detach()
        attn_map = attn.reshape(B, h, w, self.nhead, L).permute(0, 3, 4, 1, 2)  # [B, heads, L, h, w]
        y = self.bottom(out.reshape(B, h, w, -1).permute(0, 3, 1, 2))
        for up, block, skip in zip(self.up, self.dec, reversed(skips[:-1])):
            y = up(y)
            hs, ws = skip.shape[-2:]
            a = F.interpolate(
                attn_map.reshape(B, self.nhead * L, h, w), size=(hs, ws), mode="bilinear", align_corners=False
            )
            a = a.reshape(B, self.nhead, L, hs, ws) * keep_c[:, None, :, None, None].to(a.dtype)
            if y.shape[-2:] != (hs, ws):
                y = F.interpolate(y, size=(hs, ws), mode="bilinear", align_corners=False)
            y = block(torch.cat([y, grouped_temporal_sum(skip, a)], dim=1))
        return apply_valid(self.head(y), batch)
