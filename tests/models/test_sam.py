"""The ``sam`` decoder: Segment Anything mask-decoder weights mapped from a local checkpoint, and
what the load report says. (Its conformance runs with every decoder in test_conformance.py.)"""

from __future__ import annotations

import itertools

import pytest
import torch

import emberxr
from emberxr.errors import ConfigError, WeightsError
from emberxr.registry import create_decoder
from emberxr.testing import conformance_cases

D, MLP_DIM, HIDDEN = 32, 64, 32  # a Segment Anything mask decoder at a reduced width (SAM: 256, 2048, 256)
SMALL = {"transformer_dim": D, "mlp_dim": MLP_DIM, "num_heads": 8}


def _attention(prefix, dim, inner):
    return {
        f"{prefix}.q_proj.weight": (inner, dim),
        f"{prefix}.q_proj.bias": (inner,),
        f"{prefix}.k_proj.weight": (inner, dim),
        f"{prefix}.k_proj.bias": (inner,),
        f"{prefix}.v_proj.weight": (inner, dim),
        f"{prefix}.v_proj.bias": (inner,),
        f"{prefix}.out_proj.weight": (dim, inner),
        f"{prefix}.out_proj.bias": (dim,),
    }


def _mlp(prefix, dims):
    shapes = {}
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        shapes[f"{prefix}.layers.{i}.weight"] = (b, a)
        shapes[f"{prefix}.layers.{i}.bias"] = (b,)
    return shapes


def sam_checkpoint_shapes(dim=D, mlp=MLP_DIM, hidden=HIDDEN, outputs=4):
    """Key names and shapes of a Segment Anything checkpoint (segment_anything/modeling/*.py: mask
    decoder with a 2-layer two-way transformer, its prompt encoder's positional encoding, and a few
    image-encoder tensors standing for the ViT)."""
    shapes = {}
    for i in range(2):
        layer = f"mask_decoder.transformer.layers.{i}"
        shapes |= _attention(f"{layer}.self_attn", dim, dim)
        shapes |= _attention(f"{layer}.cross_attn_token_to_image", dim, dim // 2)
        shapes |= _attention(f"{layer}.cross_attn_image_to_token", dim, dim // 2)
        for n in range(1, 5):
            shapes[f"{layer}.norm{n}.weight"] = shapes[f"{layer}.norm{n}.bias"] = (dim,)
        shapes |= {
            f"{layer}.mlp.lin1.weight": (mlp, dim),
            f"{layer}.mlp.lin1.bias": (mlp,),
            f"{layer}.mlp.lin2.weight": (dim, mlp),
            f"{layer}.mlp.lin2.bias": (dim,),
        }
    shapes |= _attention("mask_decoder.transformer.final_attn_token_to_image", dim, dim // 2)
    shapes["mask_decoder.transformer.norm_final_attn.weight"] = (dim,)
    shapes["mask_decoder.transformer.norm_final_attn.bias"] = (dim,)
    shapes["mask_decoder.iou_token.weight"] = (1, dim)
    shapes["mask_decoder.mask_tokens.weight"] = (outputs, dim)
    shapes |= {
        "mask_decoder.output_upscaling.0.weight": (dim, dim // 4, 2, 2),
        "mask_decoder.output_upscaling.0.bias": (dim // 4,),
        "mask_decoder.output_upscaling.1.weight": (dim // 4,),
        "mask_decoder.output_upscaling.1.bias": (dim // 4,),
        "mask_decoder.output_upscaling.3.weight": (dim // 4, dim // 8, 2, 2),
        "mask_decoder.output_upscaling.3.bias": (dim // 8,),
    }
    for k in range(outputs):
        shapes |= _mlp(f"mask_decoder.output_hypernetworks_mlps.{k}", [dim, dim, dim, dim // 8])
    shapes |= _mlp("mask_decoder.iou_prediction_head", [dim, hidden, hidden, outputs])
    shapes["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = (2, dim // 2)
    shapes["prompt_encoder.no_mask_embed.weight"] = (1, dim)
    shapes |= {
        "image_encoder.pos_embed": (1, 4, 4, 48),
        "image_encoder.patch_embed.proj.weight": (48, 3, 16, 16),
        "image_encoder.patch_embed.proj.bias": (48,),
        "image_encoder.blocks.0.norm1.weight": (48,),
        "image_encoder.neck.0.weight": (dim, 48, 1, 1),
    }
    return shapes


def write_sam_checkpoint(path, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shape, generator=g) for k, shape in sam_checkpoint_shapes(**kw).items()}
    torch.save(state, path)
    return state


def test_sam_checkpoint_mask_decoder_keys_are_loaded_and_the_rest_reported(tmp_path):
    sam = write_sam_checkpoint(tmp_path / "sam_vit_tiny.pth")
    dec = create_decoder(
        "sam", context_channels=8, fine_channels=5, weights=str(tmp_path / "sam_vit_tiny.pth"), **SMALL
    )
    ours, report = dec.state_dict(), dec.load_report
    # every mask-decoder tensor of output 0 arrived unchanged under its own name
    for key, value in sam.items():
        name = key.removeprefix("mask_decoder.")
        if not key.startswith("mask_decoder.") or name.startswith(
            ("output_hypernetworks_mlps.1", "output_hypernetworks_mlps.2", "output_hypernetworks_mlps.3")
        ):
            continue
        if name in (
            "mask_tokens.weight",
            "iou_prediction_head.layers.2.weight",
            "iou_prediction_head.layers.2.bias",
        ):
            assert torch.equal(ours[name], value[:1]), name  # SAM's output 0 (single-mask output)
        else:
            assert torch.equal(ours[name], value), name
        assert name in report.loaded
    assert torch.equal(
        ours["pe_gaussian"], sam["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"]
    )
    assert sorted(report.adapted) == [
        "iou_prediction_head.layers.2.bias",
        "iou_prediction_head.layers.2.weight",
        "mask_tokens.weight",
    ]
    # what was skipped, and why
    assert report.skipped["mask_decoder.output_hypernetworks_mlps.3.layers.2.bias"].startswith(
        "SAM's other mask outputs"
    )
    assert sum(k.startswith("mask_decoder.output_hypernetworks_mlps.") for k in report.skipped) == 18
    assert report.skipped["image_encoder.pos_embed"] == "not part of the mask decoder"
    assert report.skipped["prompt_encoder.no_mask_embed.weight"] == "not part of the mask decoder"
    assert len(report.skipped) == 18 + 5 + 1
    # ours that SAM does not have keep their initialisation
    assert report.initialised == sorted(
        k for k in ours if k.startswith(("context_proj", "dense_embed", "refine"))
    )
    text = str(report)
    assert "image_encoder.* (5 tensors: not part of the mask decoder)" in text
    assert (
        "mask_decoder.output_hypernetworks_mlps.* (18 tensors: SAM's other mask outputs (sam uses output 0))"
        in text
    )
    assert "kept at initialisation: context_proj.bias" in text
    # only the loaded parameters count as pretrained
    loaded = {id(q) for k, q in dec.named_parameters() if k in report.loaded}
    assert {id(q) for q in dec.pretrained_parameters()} == loaded
    assert id(dec.context_proj.weight) not in loaded and id(dec.transformer.layers[0].norm1.weight) in loaded
    x = dec(torch.randn(2, 8, 4, 4), torch.randn(2, 5, 32, 32))
    assert x.shape == (2, 1, 32, 32) and torch.isfinite(x).all()


def test_only_tensors_whose_shapes_fit_are_loaded(tmp_path):
    sam = write_sam_checkpoint(tmp_path / "s.pth", mlp=48)  # another MLP width
    dec = create_decoder("sam", context_channels=8, fine_channels=5, weights=str(tmp_path / "s.pth"), **SMALL)
    report = dec.load_report
    reason = report.skipped["mask_decoder.transformer.layers.1.mlp.lin1.weight"]
    assert reason == f"shape (48, {D}) does not fit ({MLP_DIM}, {D}) (transformer_dim={D})"
    assert "transformer.layers.1.mlp.lin1.weight" in report.initialised
    assert torch.equal(
        dec.state_dict()["transformer.layers.1.norm3.weight"],
        sam["mask_decoder.transformer.layers.1.norm3.weight"],
    )


def test_a_checkpoint_of_another_width_or_kind_fails_clearly(tmp_path):
    write_sam_checkpoint(tmp_path / "s.pth")
    with pytest.raises(WeightsError) as info:  # a decoder at the default width 64
        create_decoder("sam", context_channels=8, fine_channels=5, weights=str(tmp_path / "s.pth"))
    msg = str(info.value)
    assert f"the checkpoint's transformer_dim is {D}, this decoder's 64" in msg
    assert f"decoder_config: {{transformer_dim: {D}, mlp_dim: {MLP_DIM}, num_heads: 8}}" in msg
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "resnet.pth")
    with pytest.raises(WeightsError, match="is not a Segment Anything checkpoint"):
        create_decoder("sam", context_channels=8, fine_channels=5, weights=str(tmp_path / "resnet.pth"))
    with pytest.raises(ConfigError) as info:
        create_decoder("sam", context_channels=8, fine_channels=5, transformer_dim=36, num_heads=5)
    assert "transformer_dim=36" in str(info.value) and "num_heads=5" in str(info.value)


def test_emberformer_with_sam_weights_freezes_only_what_was_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBERXR_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    kw = dict(
        in_static=3, patch_size=8, d_model=16, nhead=2, num_layers=1, decoder="sam", decoder_config=SMALL
    )
    with pytest.raises(WeightsError) as info:
        emberxr.create_model("emberformer", pretrained=True, **kw)
    assert str(tmp_path / "sam-mask_decoder.pt") in str(info.value) and "Segment Anything" in str(info.value)
    write_sam_checkpoint(tmp_path / "sam-mask_decoder.pt")
    model = emberxr.create_model("emberformer", pretrained=True, **kw)
    frozen = {id(q) for q in model.pretrained_parameters()}
    assert frozen and id(model.decoder.transformer.layers[0].mlp.lin1.weight) in frozen
    model.freeze_decoder()
    assert not model.decoder.iou_token.weight.requires_grad
    assert model.decoder.context_proj.weight.requires_grad and model.decoder.refine[1].weight.requires_grad
    model.unfreeze_decoder()
    assert all(q.requires_grad for q in model.decoder.parameters())


@pytest.mark.parametrize(
    "case",
    conformance_cases(
        "sam",
        kind="decoder",
        in_model=False,
        transformer_dim=32,
        depth=1,
        num_heads=4,
        attention_downsample_rate=1,
    ),
    ids=str,
)
def test_sam_conforms_with_other_options(case):
    """The default options run in test_conformance.py (with every decoder, alone and in EmberFormer)."""
    case()
