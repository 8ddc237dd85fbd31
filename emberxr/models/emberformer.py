"""``emberformer``: a temporal transformer per patch, optional spatial attention, and a pixel decoder.

Pipeline (``docs/models.md`` has the full description)::

    fire history [B,T,H,W] ─ patch tokens [B,T,N,p·p] ─┐
    wind [B,T,2] ─ MLP ───────────────────────────────── + ─ token [B,N,T,d]
    dynamic [B,T,Cd,H,W] ─ patch tokens ─ Linear ───────┤      │
    steps back from the prediction time ─ embedding ────┤      │ temporal transformer per patch
    static [B,Cs,H,W] ─ patch tokens ─ Linear ──────────┘      │ (padding masked), take the last real step
                                                         context [B,N,d] ─ spatial attention layers
                                                         grid [B,d,Gy,Gx] ─┐
    last frame, active front, static, wind, last dynamic,
    valid ─ fine [B,Cf,H,W] ───────────────────────────────────────────────┴─ decoder ─ + persistence prior
                                                                                   → logits [B,1,H,W]

The position code counts backwards from the prediction time (0 = last real frame), so left
padding never shifts it, and padded steps are masked before the softmax: the same history with
more padding gives the same output. The output is a residual over the last frame:
``logits = decoder(...) + persistence * last_fire + bias`` (``persistence`` learned, initialised to
4): cumulative fire persists, and for active-fire targets (``data.target: active``) training learns
how much of today's fire is still detected tomorrow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

from emberxr.channels import channel_names, known_channel_names
from emberxr.errors import ConfigError, Problem
from emberxr.layers import AttentionBlock, sincos_2d
from emberxr.tokens import (
    TOKEN_MODES,
    check_token_shapes,
    fold_static,
    tokenize_fire,
    unpatchify_grid,
    valid_token_mask,
)

from .base import (
    FireModel,
    ModelRequirements,
    apply_valid,
    broadcast_wind,
    check_divisible,
    dynamic_bands,
    last_dynamic,
    last_frame,
    last_real_index,
    last_wind,
    pixel_valid,
    previous_frame,
    static_bands,
    steps_back,
)

#: named variants (``model.preset`` in a training config; explicit options override them)
PRESETS: dict[str, dict[str, Any]] = {
    # the design notes' recommended architecture (emberformer-notes.md, "Task 2.3"): 3 temporal
    # layers of width 64 with 4 heads, no cross-patch attention, a pretrained SegFormer decoder
    # (`pretrained: true` needs the segformer-mit_b0.pt weight file, see docs/models.md)
    "notes": dict(
        d_model=64,
        nhead=4,
        num_layers=3,
        dropout=0.1,
        max_seq_len=8,
        spatial_layers=0,
        decoder="segformer",
        pretrained=True,
    ),
    # what `make demo` trains on two CPU cores: 2 temporal layers, 1 cross-patch attention layer,
    # the light decoder (no weights)
    "cpu": dict(
        d_model=64,
        nhead=4,
        num_layers=2,
        dropout=0.1,
        max_seq_len=8,
        spatial_layers=1,
        decoder="light",
        pretrained=False,
    ),
}


class EmberFormer(FireModel):
    """Temporal transformer per patch + spatial decoder (the notes' "Recommended Architecture").

    Parameters
    ----------
    in_static
        Number of static bands (Cs).
    patch_size
        Patch side p; tiles must be multiples of p.
    max_history
        History the data pipeline should provide (frames older than ``max_seq_len`` are ignored).
    d_model, nhead, num_layers, dropout
        Temporal transformer width, heads, layers and dropout.
    max_seq_len
        Number of most recent real frames the transformer attends to (size of the position table).
    spatial_layers
        Attention layers across patches after the temporal transformer (the notes' advanced path).
        One layer by default: with the demo's 2000-step budget on sim-small it raised test new-burn
        F1 from 0.693 to 0.715 and new-burn AP from 0.767 to 0.792 (``docs/models.md``).
    decoder
        Decoder name from ``emberxr.list_decoders()`` (``light``, ``unet``, ``segformer``, ``sam``,
        plugins).
    pretrained
        Decoder weights: ``False`` (random initialisation), ``True`` (the default weight file
        ``<decoder>-<encoder>.pt`` in the weights directory, e.g. made by ``emberxr pretrain``; an
        error when there is none) or a local file path (see :mod:`emberxr.decoders.weights`). Built
        by :func:`emberxr.fit`, a pretrained file's input channels are matched to the data's by
        name (:meth:`fine_names`).
    decoder_config
        Extra keyword arguments for the decoder.
    token_mode
        ``"pixels"``: Linear over the p·p pixels of each fire patch and the Cs·p·p static pixels;
        ``"mean"``: the notes' Linear(1→d) on the fire patch mean and Linear(Cs→d) on the static
        patch means (means over valid pixels). The batch's tokens must be cut in the same mode
        (:mod:`emberxr.tokens`); absent tokens are cut from the pixels.
    use_wind, use_static, use_dynamic
        Ablation switches.
    in_dynamic
        Number of dynamic bands (Cd): each step's are embedded per patch (a Linear over the patch's
        Cd·p·p values, or the Cd patch means in ``"mean"`` token mode) and added to that step's
        token like the wind; the last real step's are also fine features of the decoder.
    """

    name = "emberformer"
    requires = ModelRequirements(tokens=True, max_history=8, uses_static=True, uses_wind=True)
    presets = PRESETS

    def __init__(
        self,
        in_static: int = 0,
        patch_size: int = 16,
        max_history: int = 8,
        d_model: int = 64,
        nhead: int = 4,
        num_layers: int = 3,
        dropout: float = 0.1,
        max_seq_len: int = 8,
        spatial_layers: int = 1,
        decoder: str = "light",
        pretrained: bool | str = False,
        decoder_config: dict[str, Any] | None = None,
        token_mode: str = "pixels",
        use_wind: bool = True,
        use_static: bool = True,
        in_dynamic: int = 0,
        use_dynamic: bool = True,
    ):
        super().__init__()
        problems = []
        if token_mode not in TOKEN_MODES:
            problems.append(Problem(f"token_mode={token_mode!r}", f"use one of {', '.join(TOKEN_MODES)}"))
        for key, val, low in (
            ("patch_size", patch_size, 1),
            ("d_model", d_model, 1),
            ("nhead", nhead, 1),
            ("max_seq_len", max_seq_len, 1),
            ("num_layers", num_layers, 0),
            ("spatial_layers", spatial_layers, 0),
        ):
            if int(val) < low:
                problems.append(Problem(f"{key}={val}", f"use an integer >= {low}"))
        if int(nhead) >= 1 and int(d_model) % int(nhead):
            problems.append(
                Problem(
                    f"d_model={d_model} is not divisible by nhead={nhead}",
                    "pick nhead dividing d_model (e.g. d_model 64 with nhead 2, 4 or 8)",
                )
            )
        if not 0.0 <= float(dropout) < 1.0:
            problems.append(Problem(f"dropout={dropout}", "use a probability in [0, 1), e.g. 0.1"))
        if problems:
            raise ConfigError(problems, subject="emberformer")
        from emberxr.registry import create_decoder

        p = int(patch_size)
        self.p, self.d, self.in_static = p, int(d_model), int(in_static)
        self.max_seq_len = int(max_seq_len)
        self.token_mode, self.use_wind, self.use_static = token_mode, bool(use_wind), bool(use_static)
        self.in_dynamic = int(in_dynamic)
        self.use_dynamic = bool(use_dynamic) and self.in_dynamic > 0
        if not self.use_dynamic:  # the ablation switch: dynamic bands are not read
            self.requires = dataclasses.replace(type(self).requires, uses_dynamic=False)
        d = self.d
        # temporal token embedder
        per_patch = p * p if token_mode == "pixels" else 1  # values per patch and channel
        self.fire_embed = nn.Linear(per_patch, d)
        self.wind_embed = nn.Sequential(nn.Linear(2, d), nn.GELU(), nn.Linear(d, d))
        self.pos_embed = nn.Embedding(self.max_seq_len, d)
        self.static_embed = nn.Linear(max(self.in_static, 1) * per_patch, d)
        # only with dynamic bands: models without them keep the state-dict keys they always had
        self.dynamic_embed = nn.Linear(self.in_dynamic * per_patch, d) if self.use_dynamic else None
        self.temporal = nn.ModuleList(AttentionBlock(d, nhead, dropout) for _ in range(int(num_layers)))
        self.temporal_norm = nn.LayerNorm(d)
        self.spatial = nn.ModuleList(AttentionBlock(d, nhead, dropout) for _ in range(int(spatial_layers)))
        self.spatial_norm = nn.LayerNorm(d)
        # decoder on [context grid, fine features]
        self.fine_channels = (
            4
            + (self.in_static if self.use_static else 0)
            + (2 if self.use_wind else 0)
            + (self.in_dynamic if self.use_dynamic else 0)
        )
        known = known_channel_names()  # named by emberxr.fit: pretrained files are matched by name
        with channel_names(fine=self.fine_names(known.get("static"), known.get("dynamic"))):
            self.decoder = create_decoder(
                decoder,
                context_channels=d,
                fine_channels=self.fine_channels,
                patch_size=p,
                weights=pretrained or None,
                **(decoder_config or {}),
            )
        self.persistence = nn.Parameter(torch.tensor(4.0))
        self.bias = nn.Parameter(torch.tensor(-2.0))

    def fine_names(self, static: list[str] | None, dynamic: list[str] | None) -> list[str] | None:
        """Names of the ``fine`` feature channels the decoder gets, in :meth:`forward`'s order.

        Parameters
        ----------
        static, dynamic
            Names of the data's static / dynamic feature channels (``NormStats.feature_names``,
            ``dynamic_feature_names``).

        Returns
        -------
        list of str or None
            ``fire:last, fire:front, valid, history_fraction, static:<name>…, wind:u, wind:v,
            dynamic:<name>…`` (groups the ablation switches turn off left out); None when a group
            the model uses is unnamed or has another channel count than the model.
        """
        names = ["fire:last", "fire:front", "valid", "history_fraction"]
        static = [] if static is None and self.in_static == 0 else static
        dynamic = [] if dynamic is None and self.in_dynamic == 0 else dynamic
        if self.use_static:
            if static is None or len(static) != self.in_static:
                return None
            names += [f"static:{n}" for n in static]
        if self.use_wind:
            names += ["wind:u", "wind:v"]
        if self.use_dynamic:
            if dynamic is None or len(dynamic) != self.in_dynamic:
                return None
            names += [f"dynamic:{n}" for n in dynamic]
        return names

    # -- training helpers ------------------------------------------------------------------------
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``"temporal"``: embedder, temporal and spatial attention, persistence prior;
        ``"spatial"``: the decoder."""
        spatial = list(self.decoder.parameters())
        ids = {id(q) for q in spatial}
        return {"temporal": [q for q in self.parameters() if id(q) not in ids], "spatial": spatial}

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The decoder's parameters that were loaded from weights (empty without ``pretrained``)."""
        return list(self.decoder.pretrained_parameters())

    def freeze_decoder(self) -> None:
        """Freeze the decoder's pretrained parameters (no-op when no weights were loaded)."""
        for q in self.decoder.pretrained_parameters():
            q.requires_grad_(False)

    def unfreeze_decoder(self) -> None:
        """Make every decoder parameter trainable again."""
        for q in self.decoder.parameters():
            q.requires_grad_(True)

    # -- forward -------------------------------------------------------------------------------
    def _tokens(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor | None]:
        """Fire tokens ``[B, T, N, p*p | 1]``, static tokens ``[B, N, Cs*p*p | Cs]`` and (with dynamic
        bands) dynamic tokens ``[B, T, N, Cd*p*p | Cd]`` in the model's token mode: the batch's own
        when present (a wrong shape is a :class:`ConfigError`), else cut from the pixels the same
        way the data pipeline cuts them."""
        keys = ("fire_tokens", "static_tokens") + (("dynamic_tokens",) if self.use_dynamic else ())
        check_token_shapes(
            batch, self.p, self.in_static, self.token_mode, keys, "emberformer", n_dynamic=self.in_dynamic
        )
        ft, st = batch.get("fire_tokens"), batch.get("static_tokens")
        valid = pixel_valid(batch)[:, 0] if self.token_mode == "mean" else None
        if ft is None:
            ft = tokenize_fire(batch["fire"].to(torch.float32), self.p, self.token_mode, valid)
        if st is None:
            st = fold_static(static_bands(batch, self.in_static), self.p, self.token_mode, valid)
        dt = None
        if self.use_dynamic:
            dt = batch.get("dynamic_tokens")
            if dt is None:
                v = None if valid is None else valid[:, None]  # broadcast over time
                dt = fold_static(dynamic_bands(batch, self.in_dynamic), self.p, self.token_mode, v)
            dt = torch.nan_to_num(dt.to(torch.float32))
        return ft.to(torch.float32), torch.nan_to_num(st.to(torch.float32)), dt

    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Pixel logits ``[B, 1, H, W]``.

        Unless :attr:`record_attention` is off, the temporal attention of this call is kept in
        :attr:`last_attention`: ``[B, N, nhead, T]``, the attention of each patch's last real step
        over the batch's T frames in the last temporal layer (zeros at padded frames and frames
        older than ``max_seq_len``; rows sum to 1). That layer then runs the explicit attention
        path; with ``record_attention = False`` (what prediction and export set) every layer runs
        the fused ``scaled_dot_product_attention`` (:class:`~emberxr.layers.AttentionBlock`).
        """
        grid = check_divisible(batch, self.p)
        fire = batch["fire"]
        B, T, H, W = fire.shape
        N = grid[0] * grid[1]
        valid_t = batch["valid_t"].to(torch.bool)
        back = steps_back(valid_t)
        # every column is processed (no data-dependent trimming, so the forward traces and
        # exports); padded steps and steps older than max_seq_len are masked keys
        keep = valid_t & (back < self.max_seq_len)
        back_c = back.clamp(max=self.max_seq_len - 1)

        ft, st, dt = self._tokens(batch)
        tok = self.fire_embed(ft)  # [B, T, N, d]
        tok = tok + self.pos_embed(back_c)[:, :, None, :]
        if self.use_wind:
            tok = tok + self.wind_embed(batch["wind"].to(torch.float32))[:, :, None, :]
        if self.dynamic_embed is not None and dt is not None:
            tok = tok + self.dynamic_embed(dt)
        if self.use_static:
            static_e = self.static_embed(
                st if self.in_static else st.new_zeros((B, N, self.static_embed.in_features))
            )
            tok = tok + static_e[:, None]
        seq = tok.permute(0, 2, 1, 3).reshape(B * N, T, self.d)
        key_valid = keep[:, None, :].expand(B, N, T).reshape(B * N, T)
        record = self.record_attention and len(self.temporal) > 0
        last = last_real_index(keep)  # [B]
        idx = last[:, None].expand(B, N).reshape(B * N)
        # out of training the last layer computes only the row read below, the last real step
        # (the same values; in training all rows, so that dropout draws as it always did)
        n_full = len(self.temporal) - (0 if self.training else 1)
        for i, block in enumerate(self.temporal):
            block.keep_weights = record and i == len(self.temporal) - 1
            seq = block(seq, key_valid) if i < n_full else block(seq, key_valid, query=idx)
        if seq.ndim == 3:  # [B*N, T, d]: the last real step of each sequence
            seq = seq[torch.arange(B * N, device=seq.device), idx]
        ctx = self.temporal_norm(seq).reshape(B, N, self.d)
        if record:
            w = self.temporal[-1].weights  # [B*N, h, T or 1, T]
            heads = w.shape[1]
            rows = w[torch.arange(B * N, device=w.device), :, idx] if w.shape[2] > 1 else w[:, :, 0]
            self.last_attention = rows.reshape(B, N, heads, T)
            self.temporal[-1].weights = None
        # spatial attention across patches
        if self.spatial:
            valid_tok = valid_token_mask(pixel_valid(batch)[:, 0], self.p)  # [B, N]
            x = ctx + sincos_2d(self.d, grid[0], grid[1], device=ctx.device)[None]
            for block in self.spatial:
                x = block(x, valid_tok)
            ctx = self.spatial_norm(x)
        context = unpatchify_grid(ctx, grid)  # [B, d, Gy, Gx]
        # full-resolution features
        lastf = last_frame(batch)
        # last frame, active front, validity, fraction of the history window that is real (the
        # channel order fine_names describes)
        fine = [lastf, lastf - previous_frame(batch), pixel_valid(batch).to(torch.float32)]
        fine.append((keep.sum(dim=1).float() / self.max_seq_len)[:, None, None, None].expand_as(lastf))
        if self.use_static:
            fine.append(static_bands(batch, self.in_static))
        if self.use_wind:
            fine.append(broadcast_wind(last_wind(batch), H, W))
        if self.use_dynamic:
            fine.append(last_dynamic(batch, self.in_dynamic))
        out = self.decoder(context, torch.cat(fine, dim=1))
        logits = out + self.persistence * lastf + self.bias
        return apply_valid(logits, batch)
