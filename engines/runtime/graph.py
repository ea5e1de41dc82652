"""The network as the backends see it: whole windows, or split into frame tokens and the rest.

* :class:`TargetFrameLifter`: ``(pose2d (B,T,17,2), target (B,)) -> pose3d (B,17,3)``.
* :class:`FrameEncoder` + :class:`TokenLifter`: the same computation in two halves,
  ``pose2d (N,17,2) -> frame_tokens (N,17,C)`` and ``(frame_tokens (B,T,17,C), target) -> pose3d``.
  The first half sees one frame at a time, so a streaming runtime runs it once per new frame
  (``engines.runtime.frame_cache``) instead of once per window.

Seq2frame models already return the target frame. Seq2seq models (e.g. the official HoT-MixSTE)
return every frame; here they are cut down to the target frame, so the live pipeline sees one
interface whatever the checkpoint. These modules are what gets exported to ONNX, so the torch
backend and the ONNX/TensorRT backends run the same computation.
"""
from __future__ import annotations

import torch
from torch import nn

from engines.hot import HoT


def _target_frame(model: HoT, tokens: torch.Tensor, kept_index: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """3D pose of the target frame from the kept tokens, (B, 17, 3)."""
    if model.config.seq2seq:
        if model.config.prune:
            tokens = model.recover(tokens, kept_index)
        index = target.to(torch.long)[:, None, None, None].expand(-1, 1, model.config.num_joints, model.config.dim)
        return model.forward_head(tokens.gather(1, index)[:, 0])
    return model.forward_head(model.target_token(tokens, kept_index, target))


class _ModelGraph(nn.Module):
    """One graph of a HoT model (one ONNX export, one torch call)."""

    def __init__(self, model: HoT):
        super().__init__()
        self.model = model
        self.config = model.config


class TargetFrameLifter(_ModelGraph):
    def forward(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _target_frame(self.model, *self.model.forward_features(pose2d, target), target)


class FrameEncoder(_ModelGraph):
    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        return self.model.embed_frames(pose2d[:, None])[:, 0]


class TokenLifter(_ModelGraph):
    def forward(self, frame_tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _target_frame(self.model, *self.model.forward_tokens(frame_tokens, target), target)
