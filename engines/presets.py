"""Named model sizes as plain configs.

The official sizes reproduce the paper's MixSTE-based models at T=243. ``live-cpu`` is the
project's default live model: a causal seq2frame model whose window runs in under 10 ms on a
2-core CPU through ONNX Runtime with the frame-token cache (about 13 ms on whole windows;
measured with ``tools/bench.py``, see the README).
"""
from __future__ import annotations

from dataclasses import replace

from engines.hot import HoTConfig

PRESETS: dict[str, HoTConfig] = {
    # Official sizes (paper, Table 1): C=512, L=8, T=243.
    "mixste-243": HoTConfig(num_frames=243, dim=512, depth=8, prune=None, seq2seq=True),
    "hot-mixste-243": HoTConfig(num_frames=243, dim=512, depth=8, prune="tpc", keep_tokens=81,
                                prune_layer=3, seq2seq=True, recover="tra", kept_pos_embed=True),
    "tpc-mixste-243": HoTConfig(num_frames=243, dim=512, depth=8, prune="tpc", keep_tokens=61,
                                prune_layer=7),
    # Live CPU model: causal seq2frame with TPC only.
    "live-cpu": HoTConfig(num_frames=81, dim=128, depth=4, prune="tpc", keep_tokens=9,
                          prune_layer=1, drop_path=0.0),
}


def get_preset(name: str, **overrides) -> HoTConfig:
    """A preset by name, with optional field overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def unpruned(config: HoTConfig) -> HoTConfig:
    """The same backbone without pruning: plain MixSTE of the same size and output mode."""
    return replace(config, prune=None, recover=None, kept_pos_embed=False)
