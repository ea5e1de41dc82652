"""FLOPs and parameter counts of a lifter, measured with PyTorch's ``FlopCounterMode``: the one
counter behind every published figure (``tools/flops.py``, ``tools/bench.py``, README, docs).

FLOPs follow the usual convention (2 per multiply-add, as the HoT paper's thop counts x2) and
cover matrix products and attention; element-wise ops (LayerNorm, GELU, softmax) are not counted.
On CPU ``scaled_dot_product_attention`` runs as ``aten._scaled_dot_product_flash_attention_for_cpu``,
which ``FlopCounterMode`` does not know and would count as zero, so it is mapped to the same
formula PyTorch uses for the GPU attention kernels.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from engines.models import arch_of, create_model
from engines.models.hot import HoTConfig, unpruned
from engines.models.tcn import TCNConfig


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


EXTRA_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


@contextmanager
def _frozen(model: torch.nn.Module):
    """Parameters without gradients for the duration: FlopCounterMode's module tracker fails on
    views of trainable parameters made under ``no_grad`` (the TRA queries are one)."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def flop_breakdown(model: torch.nn.Module, batch: int = 1, every_frame: bool = False) -> dict[str, int]:
    """FLOPs per ATen op of lifting ``batch`` windows: the target frame, as every runtime
    runs it (``forward_target``), or with ``every_frame`` the model's whole output (every frame of
    a seq2seq window, as the paper counts it)."""
    c = model.config
    device = next(model.parameters()).device
    pose2d = torch.randn(batch, c.num_frames, c.num_joints, 2, device=device)
    target = torch.full((batch,), c.num_frames - 1, dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    try:
        with _frozen(model), FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS) as counter:
            (model if every_frame else model.forward_target)(pose2d, target)
    finally:
        model.train(was_training)
    return {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}


def count_flops(model: torch.nn.Module, batch: int = 1, every_frame: bool = False) -> int:
    """Total FLOPs of :func:`flop_breakdown`."""
    return sum(flop_breakdown(model, batch, every_frame).values())


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def variants(config) -> dict[str, object]:
    """What to count of one preset: for a HoT size the three models the paper compares (full-length
    MixSTE seq2seq, HoT with TPC + TRA seq2seq, TPC alone seq2frame, with the config's pruning
    settings); any other architecture as it is."""
    if not isinstance(config, HoTConfig):
        return {arch_of(config).upper(): config}
    return {
        "MixSTE (full length)": replace(unpruned(config), seq2seq=True),
        "HoT (TPC + TRA)": replace(config, prune="tpc", seq2seq=True, recover="tra", kept_pos_embed=True),
        "TPC (seq2frame)": replace(config, prune="tpc", seq2seq=False, recover=None, kept_pos_embed=False),
    }


def _size(config) -> tuple[int, int, int, str]:
    """(channels, layers, frames after pruning, pruned before layer) for the table."""
    if isinstance(config, TCNConfig):
        return config.channels, len(config.filter_widths), config.num_frames, "-"
    pruned = config.prune is not None
    return config.dim, config.depth, config.tokens_after_prune, str(config.prune_layer) if pruned else "-"


def flops_table(presets: dict[str, object]) -> str:
    """A markdown table of parameters and FLOPs for the variants of each preset's size; presets
    whose variants are the same models share a row group."""
    groups: dict[tuple, list[str]] = {}
    for name, preset in presets.items():
        groups.setdefault(tuple(_cost_key(c) for c in variants(preset).values()), []).append(name)
    rows = ["| presets | variant | T | C | L | kept f | pruned before layer | params (M) | GFLOPs / window "
            "| GFLOPs / output frame | vs full |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for names in groups.values():
        full_flops = None
        for label, config in variants(presets[names[0]]).items():
            model = create_model(config)
            params, flops = count_params(model), count_flops(model, every_frame=True)
            full_flops = full_flops or flops
            per_frame = flops / config.num_frames if getattr(config, "seq2seq", False) else flops
            channels, layers, kept, pruned_before = _size(config)
            rows.append(f"| {', '.join(names)} | {label} | {config.num_frames} | {channels} | {layers} "
                        f"| {kept} | {pruned_before} | {params / 1e6:.2f} | {flops / 1e9:.2f} | {per_frame / 1e9:.3g} "
                        f"| {flops / full_flops:.0%} |")
    return "\n".join(rows)


def _cost_key(config):
    """The config with the fields that do not change the cost normalised."""
    if not isinstance(config, HoTConfig):
        return replace(config, dropout=0.0)
    pruned = config.prune is not None
    return replace(config, drop_path=0.0, keep_tokens=config.tokens_after_prune,
                   prune_layer=config.prune_layer if pruned else 1)
