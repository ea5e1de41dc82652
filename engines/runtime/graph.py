"""The network as the backends see it: whole windows, or split into frame tokens and the rest.

* :class:`TargetFrameLifter`: ``(pose2d (B,T,17,2), target (B,)) -> pose3d (B,17,3)``.
* :class:`FrameEncoder` + :class:`TokenLifter`: the same computation in two halves,
  ``pose2d (N,17,2) -> frame_tokens (N,17,C)`` and ``(frame_tokens (B,T,17,C), target) -> pose3d``,
  for architectures whose first half sees one frame at a time (:func:`has_frame_split`): a
  streaming runtime runs it once per new frame (``engines.runtime.frame_cache``) instead of once
  per window.

Each architecture's ``forward_target`` already returns the target frame, whatever it computes
inside (a seq2seq HoT-MixSTE is cut down to that frame there), so the live pipeline sees one
interface whatever the checkpoint. These modules are what gets exported to ONNX, so the torch
backend and the ONNX/TensorRT backends run the same computation.
"""
from __future__ import annotations

import torch
from torch import nn


def has_frame_split(model: nn.Module) -> bool:
    """Whether the architecture splits into per-frame tokens and the rest (see the module doc)."""
    return hasattr(model, "embed_frames") and hasattr(model, "forward_target_tokens")


class _ModelGraph(nn.Module):
    """One graph of a lifter (one ONNX export, one torch call)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config


class TargetFrameLifter(_ModelGraph):
    def forward(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model.forward_target(pose2d, target)


class FrameEncoder(_ModelGraph):
    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        return self.model.embed_frames(pose2d[:, None])[:, 0]


class TokenLifter(_ModelGraph):
    def forward(self, frame_tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model.forward_target_tokens(frame_tokens, target)
