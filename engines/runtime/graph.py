"""The network as every backend sees it: ``(pose2d (B,T,17,2), target (B,)) -> pose3d (B,17,3)``.

Seq2frame models already return the target frame. Seq2seq models (e.g. the official HoT-MixSTE)
return every frame; here they are cut down to the target frame, so the live pipeline sees one
interface whatever the checkpoint. The same module is what gets exported to ONNX, so the torch
backend and the ONNX/TensorRT backends run the same computation.
"""
from __future__ import annotations

import torch
from torch import nn

from engines.hot import HoT


class TargetFrameLifter(nn.Module):
    def __init__(self, model: HoT):
        super().__init__()
        self.model = model
        self.config = model.config

    def forward(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = self.model(pose2d, target)
        if not self.config.seq2seq:
            return out
        index = target.to(torch.long)[:, None, None, None].expand(-1, 1, *out.shape[2:])
        return out.gather(1, index)[:, 0]
