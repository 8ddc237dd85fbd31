"""``sam``: a Segment-Anything-style two-way attention mask decoder over the context grid.

The design notes' option 2 (Kirillov et al., "Segment Anything", ICCV 2023, mask decoder). The
context grid ``[B, d, Gy, Gx]`` plays SAM's image embedding (projected to ``transformer_dim``, plus
a dense embedding of the fine features pooled to the grid — SAM's dense "mask prompt", here the
last fire frame, front, terrain and wind — and a random-Fourier positional encoding). Learned
output tokens (a score token and a mask token) and the grid then exchange information in a
two-way transformer: per layer token self-attention, token→grid cross-attention, an MLP on the
tokens and grid→token cross-attention (2 layers by default), then a last token→grid attention.
The updated grid is upsampled ×4 by transposed convolutions; the mask token, through a small
hypernetwork MLP, gives the weights of a per-pixel dot product with it (the mask logits). Like the
other decoders, the result is fused with the full-resolution fine features (a conv refiner on
``[upsampled grid features ‖ mask logits ‖ fine]``), so boundaries follow pixels; the score token
adds one learned logit offset per sample.

**Segment Anything weights.** ``weights`` may name a local SAM checkpoint (``sam_vit_b_01ec64.pth``
… from https://github.com/facebookresearch/segment-anything; ViT-B, -L and -H share the same mask
decoder shapes) or ``True`` for ``sam-mask_decoder.pt`` in the weights directory. Build the decoder
at SAM's width to use them: ``decoder_config: {transformer_dim: 256, mlp_dim: 2048, num_heads: 8}``
(the defaults are narrower, for CPUs). Every ``mask_decoder.*`` tensor whose shape fits is loaded
(:func:`load_sam_weights`), plus the prompt encoder's positional-encoding matrix; SAM's tensors
over its four mask outputs are cut to output 0 (its single-mask output); everything else is
skipped. The :class:`~emberxr.decoders.weights.LoadReport` in :attr:`SamDecoder.load_report` says
which tensors were loaded, adapted, skipped (and why) and which of ours kept their initialisation;
only the loaded parameters count as pretrained (frozen for ``freeze_epochs``).
"""

from __future__ import annotations

import itertools
import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emberxr.errors import ConfigError, Problem, WeightsError
from emberxr.layers import ConvBlock

from .base import FireDecoder, resize
from .weights import LoadReport, read_weights, resolve_weights

__all__ = ["SamDecoder", "load_sam_weights"]

#: how to get the file ``weights=True`` looks for
_HOW = (
    "copy a Segment Anything checkpoint (e.g. sam_vit_b_01ec64.pth, downloaded on a machine with network "
    "from github.com/facebookresearch/segment-anything) to that name"
)
#: key prefixes of the mask decoder in SAM checkpoints (the whole model, or the decoder saved alone)
_SAM_PREFIXES = ("mask_decoder.", "module.mask_decoder.", "model.mask_decoder.", "sam.mask_decoder.", "")
#: SAM's positional-encoding matrix (prompt encoder) and its name here
_SAM_PE = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of ``[B, C, H, W]`` (as in SAM's upscaling path)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps).permute(
            0, 3, 1, 2
        )


class MLP(nn.Module):
    """``depth`` linear layers with ReLU between them (``layers.0`` … like SAM's heads)."""

    def __init__(self, cin: int, hidden: int, cout: int, depth: int):
        super().__init__()
        dims = [cin] + [hidden] * (depth - 1) + [cout]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class Attention(nn.Module):
    """Multi-head attention whose inner width is ``dim // downsample`` (``q_proj``/``k_proj``/``v_proj``/``out_proj``)."""

    def __init__(self, dim: int, heads: int, downsample: int = 1):
        super().__init__()
        inner = dim // downsample
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, inner) for _ in range(3))
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        return x.reshape(B, N, self.heads, C // self.heads).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        out = F.scaled_dot_product_attention(
            self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        )
        B, h, N, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(B, N, h * c))


class TwoWayBlock(nn.Module):
    """Token self-attention, token→grid attention, token MLP, grid→token attention (post-norm)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, downsample: int, first: bool):
        super().__init__()
        self.first = first  # the first block's token self-attention has no positional term nor residual
        self.self_attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.lin1, self.mlp.lin2 = nn.Linear(dim, mlp_dim), nn.Linear(mlp_dim, dim)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, heads, downsample)

    def forward(
        self, tokens: Tensor, grid: Tensor, token_pe: Tensor, grid_pe: Tensor
    ) -> tuple[Tensor, Tensor]:
        if self.first:
            tokens = self.self_attn(tokens, tokens, tokens)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q, q, tokens)
        tokens = self.norm1(tokens)
        tokens = self.norm2(tokens + self.cross_attn_token_to_image(tokens + token_pe, grid + grid_pe, grid))
        tokens = self.norm3(tokens + self.mlp.lin2(F.relu(self.mlp.lin1(tokens))))
        grid = self.norm4(grid + self.cross_attn_image_to_token(grid + grid_pe, tokens + token_pe, tokens))
        return tokens, grid


class TwoWayTransformer(nn.Module):
    """``depth`` :class:`TwoWayBlock` then a last token→grid attention."""

    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int, downsample: int):
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayBlock(dim, heads, mlp_dim, downsample, first=i == 0) for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, grid: Tensor, grid_pe: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """``grid``/``grid_pe`` ``[B, N, D]``, ``tokens`` ``[B, T, D]`` → updated tokens and grid."""
        token_pe = tokens
        for layer in self.layers:
            tokens, grid = layer(tokens, grid, token_pe, grid_pe)
        attn = self.final_attn_token_to_image(tokens + token_pe, grid + grid_pe, grid)
        return self.norm_final_attn(tokens + attn), grid


class SamDecoder(FireDecoder):
    """Two-way attention between output tokens and the context grid, upsampled and fused with ``fine``.

    Parameters
    ----------
    context_channels, fine_channels, patch_size
        See :mod:`emberxr.decoders.base`.
    weights
        None/False, True (``sam-mask_decoder.pt`` in the weights directory) or a local Segment
        Anything checkpoint (see the module docstring).
    transformer_dim
        Token and grid width D (SAM: 256). Must be divisible by 8 and, halved, by ``num_heads``.
    num_heads
        Attention heads (SAM: 8).
    mlp_dim
        Hidden width of the token MLP (SAM: 2048).
    depth
        Two-way blocks (SAM: 2).
    attention_downsample_rate
        Cross-attention inner width is ``transformer_dim / rate`` (SAM: 2).
    iou_head_hidden_dim
        Hidden width of the score head (SAM: 256; None = ``transformer_dim``).
    refine_channels
        Width of the full-resolution refiner.
    """

    name = "sam"

    def __init__(
        self,
        context_channels: int,
        fine_channels: int,
        patch_size: int = 16,
        weights: bool | str | None = None,
        transformer_dim: int = 64,
        num_heads: int = 8,
        mlp_dim: int = 256,
        depth: int = 2,
        attention_downsample_rate: int = 2,
        iou_head_hidden_dim: int | None = None,
        refine_channels: int = 16,
    ):
        super().__init__()
        D, heads, rate = int(transformer_dim), int(num_heads), int(attention_downsample_rate)
        problems = []
        if D < 8 or D % 8:
            problems.append(
                Problem(f"transformer_dim={transformer_dim}", "use a multiple of 8, e.g. 64 or 256")
            )
        if heads < 1 or rate < 1 or (D // max(rate, 1)) % max(heads, 1):
            problems.append(
                Problem(
                    f"num_heads={num_heads} with attention_downsample_rate={attention_downsample_rate}",
                    "num_heads must divide transformer_dim / attention_downsample_rate (SAM: 256 / 2 with 8 heads)",
                )
            )
        for key, value in (("depth", depth), ("mlp_dim", mlp_dim), ("refine_channels", refine_channels)):
            if int(value) < 1:
                problems.append(Problem(f"{key}={value}", "use an integer >= 1"))
        if problems:
            raise ConfigError(problems, subject="sam decoder")
        self.context_proj = nn.Conv2d(context_channels, D, 1)
        self.dense_embed = nn.Conv2d(fine_channels, D, 1)
        # random Fourier features of the grid position (SAM's prompt-encoder PE); in the state dict
        self.register_buffer("pe_gaussian", torch.randn(2, D // 2))
        self.transformer = TwoWayTransformer(int(depth), D, heads, int(mlp_dim), rate)
        self.iou_token = nn.Embedding(1, D)
        self.mask_tokens = nn.Embedding(1, D)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(D, D // 4, kernel_size=2, stride=2),
            LayerNorm2d(D // 4),
            nn.GELU(),
            nn.ConvTranspose2d(D // 4, D // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList([MLP(D, D, D // 8, 3)])
        self.iou_prediction_head = MLP(D, int(iou_head_hidden_dim or D), 1, 3)
        self.refine = nn.Sequential(
            ConvBlock(D // 8 + 1 + fine_channels, int(refine_channels), n=1),
            nn.Conv2d(int(refine_channels), 1, 1),
        )
        self.load_report: LoadReport | None = None
        path = resolve_weights(weights, self.name, "mask_decoder", how=_HOW)
        if path is not None and not self.iou_token.weight.is_meta:
            self.load_report = load_sam_weights(self, path)

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The parameters loaded from a Segment Anything checkpoint (empty without one)."""
        if self.load_report is None:
            return []
        loaded = set(self.load_report.loaded)
        return [q for k, q in self.named_parameters() if k in loaded]

    def positional_encoding(self, gy: int, gx: int) -> Tensor:
        """``[D, gy, gx]``: sin/cos of ``2π · (2·(x, y) − 1) @ pe_gaussian`` at the cell centres
        (coordinates in [0, 1] over the grid)."""
        g = self.pe_gaussian
        y = (torch.arange(gy, device=g.device, dtype=g.dtype) + 0.5) / gy
        x = (torch.arange(gx, device=g.device, dtype=g.dtype) + 0.5) / gx
        xy = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)  # [gy, gx, 2] as (x, y)
        proj = 2 * math.pi * ((2 * xy - 1) @ g)
        return torch.cat([proj.sin(), proj.cos()], dim=-1).permute(2, 0, 1)

    def forward(self, context: Tensor, fine: Tensor) -> Tensor:
        B, _, gy, gx = context.shape
        H, W = fine.shape[-2:]
        grid = self.context_proj(context) + self.dense_embed(F.adaptive_avg_pool2d(fine, (gy, gx)))
        D = grid.shape[1]
        pe = self.positional_encoding(gy, gx).to(grid.dtype)
        tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)[None].expand(B, -1, -1)
        flat = grid.flatten(2).transpose(1, 2)  # [B, N, D]
        pe_flat = pe.flatten(1).T[None].expand(B, -1, -1)
        tokens, flat = self.transformer(flat, pe_flat, tokens)
        up = self.output_upscaling(flat.transpose(1, 2).reshape(B, D, gy, gx))  # [B, D/8, 4gy, 4gx]
        hyper = self.output_hypernetworks_mlps[0](tokens[:, 1])  # [B, D/8]
        mask = torch.einsum("bc,bchw->bhw", hyper, up)[:, None]
        score = self.iou_prediction_head(tokens[:, 0])  # [B, 1]
        mask_full = resize(mask, (H, W))
        fused = self.refine(torch.cat([resize(up, (H, W)), mask_full, fine], dim=1))
        return mask_full + fused + score[:, :, None, None]


def _sam_source(state: dict[str, Tensor]) -> tuple[str, dict[str, Tensor]]:
    """The prefix of the mask-decoder tensors in a checkpoint and those tensors without it."""
    prefix = max(_SAM_PREFIXES, key=lambda p: sum(1 for k in state if k.startswith(p) and "mask_tokens" in k))
    return prefix, {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def load_sam_weights(decoder: SamDecoder, path: str | os.PathLike) -> LoadReport:
    """Load the mask decoder of a Segment Anything checkpoint into ``decoder`` where shapes fit.

    Mapping: ``mask_decoder.<name>`` → ``<name>`` (the same module names: ``transformer.layers.*``,
    ``iou_token``, ``output_upscaling.*``, ``output_hypernetworks_mlps.0.*``, ``iou_prediction_head.*``);
    SAM's ``mask_tokens.weight`` ``[4, D]`` and its score head's last layer (one output per mask
    token) are cut to output 0, SAM's single-mask output; ``output_hypernetworks_mlps.1-3`` (its other
    outputs), the image encoder and the prompt encoder are skipped, except the prompt encoder's
    positional-encoding matrix, which becomes ``pe_gaussian`` (the attention weights were learned
    with it).

    Returns
    -------
    LoadReport
        ``loaded`` (our keys), ``adapted`` (cut to output 0), ``skipped`` (file key → reason),
        ``initialised`` (ours, not in SAM: context/dense projections, refiner).

    Raises
    ------
    WeightsError
        Not a Segment Anything checkpoint, or one of another ``transformer_dim`` (the message gives
        the options to build the decoder with).
    """
    state, meta = read_weights(path)
    source = os.fspath(path)
    prefix, sam = _sam_source(state)
    if "mask_tokens.weight" not in sam or "iou_token.weight" not in sam:
        raise WeightsError(
            f"{source!r} is not a Segment Anything checkpoint: it has no mask_decoder.mask_tokens / "
            "mask_decoder.iou_token tensors; pass sam_vit_b_01ec64.pth (or -l/-h) from "
            "github.com/facebookresearch/segment-anything, or the state dict of its mask_decoder"
        )
    target = decoder.state_dict()
    width, ours_width = sam["iou_token.weight"].shape[-1], target["iou_token.weight"].shape[-1]
    if width != ours_width:  # every tensor of the two-way transformer depends on it
        mlp = next((v.shape[0] for k, v in sam.items() if k.endswith("mlp.lin1.weight")), None)
        raise WeightsError(
            f"the mask decoder of {source!r} does not fit this sam decoder (the checkpoint's "
            f"transformer_dim is {width}, this decoder's {ours_width}); build it with decoder_config: "
            f"{{transformer_dim: {width}" + (f", mlp_dim: {mlp}" if mlp else "") + ", num_heads: 8}"
        )
    report = LoadReport(source=source, metadata=meta)
    head_last = f"iou_prediction_head.layers.{len(decoder.iou_prediction_head.layers) - 1}."
    values: dict[str, Tensor] = {}
    for key, value in sam.items():
        if key.startswith("output_hypernetworks_mlps.") and not key.startswith(
            "output_hypernetworks_mlps.0."
        ):
            report.skipped[prefix + key] = "SAM's other mask outputs (sam uses output 0)"
            continue
        if key == "mask_tokens.weight" or key.startswith(head_last):
            value = value[:1]  # one row per SAM mask output: keep output 0
            report.adapted.append(key)
        if key not in target:
            report.skipped[prefix + key] = "no such tensor in the sam decoder"
        elif tuple(value.shape) != tuple(target[key].shape):
            report.skipped[prefix + key] = (
                f"shape {tuple(value.shape)} does not fit {tuple(target[key].shape)} "
                f"(transformer_dim={ours_width})"
            )
            if key in report.adapted:
                report.adapted.remove(key)
        else:
            values[key] = value
    if _SAM_PE in state:
        pe = state[_SAM_PE]
        if tuple(pe.shape) == tuple(target["pe_gaussian"].shape):
            values["pe_gaussian"] = pe
        else:
            report.skipped[_SAM_PE] = (
                f"shape {tuple(pe.shape)} does not fit {tuple(target['pe_gaussian'].shape)}"
            )
    for key in state:
        if key != _SAM_PE and not (key.startswith(prefix) and key[len(prefix) :] in sam):
            report.skipped[key] = "not part of the mask decoder"
    for key, value in values.items():
        values[key] = value.to(target[key].dtype)
    decoder.load_state_dict(values, strict=False)
    report.loaded = sorted(values)
    report.initialised = sorted(k for k in target if k not in values)
    return report
