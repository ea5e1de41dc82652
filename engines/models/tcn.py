"""A causal temporal convolutional lifter in the manner of VideoPose3D (Pavllo et al., CVPR 2019).

The peer baseline of the transformer: the 2D poses of a window are one sequence of ``2 J``
channels, and dilated 1D convolutions (widths ``filter_widths``, dilations their running
products) shrink it to one frame, so the receptive field is the product of the widths
(3·3·3·3 = 81 frames). Each block is a dilated convolution and a 1×1 convolution, each with
batch norm, ReLU and dropout, around a residual connection that takes the frames the convolution
keeps. ``causal=True`` aligns those residual slices on the newest frame (VideoPose3D's
``causal`` mode), so the output is the last frame of the window: no look-ahead, as the live
pipeline's default.

Unlike HoT, the frame a TCN predicts is fixed by its alignment and its training: a causal TCN
serves lookahead 0 only, a symmetric one the centre frame only (``target_index`` refuses others),
and the ``target`` input that every lifter takes is not read. Module names follow VideoPose3D's
``TemporalModel`` (``expand_conv``, ``layers_conv``, ...), so its released weights map by name.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from engines.models.registry import register


@dataclass(frozen=True)
class TCNConfig:
    """Architecture hyper-parameters. Plain values, so a config round-trips through JSON."""

    filter_widths: tuple[int, ...] = (3, 3, 3, 3)
    channels: int = 256
    num_joints: int = 17
    causal: bool = True
    dropout: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_widths", tuple(self.filter_widths))  # JSON and YAML give lists
        if not self.filter_widths or any(w < 1 or w % 2 == 0 for w in self.filter_widths):
            raise ValueError(f"filter widths must be odd and positive, got {self.filter_widths}")
        if self.channels < 1:
            raise ValueError(f"channels must be positive, got {self.channels}")

    @property
    def num_frames(self) -> int:
        """The receptive field: the window length."""
        return math.prod(self.filter_widths)

    def target_index(self, lookahead: int) -> int:
        served = 0 if self.causal else (self.num_frames - 1) // 2
        if lookahead != served:
            raise ValueError(f"this {'causal' if self.causal else 'symmetric'} TCN predicts lookahead {served} only, "
                             f"not {lookahead}")
        return self.num_frames - 1 - lookahead

    def to_dict(self) -> dict:
        return asdict(self)


class TCN(nn.Module):
    """VideoPose3D's ``TemporalModel`` for one window in, one pose out; see the module docstring."""

    def __init__(self, config: TCNConfig):
        super().__init__()
        c = config
        self.config = c
        self.expand_conv = nn.Conv1d(2 * c.num_joints, c.channels, c.filter_widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(c.channels, momentum=0.1)
        convs, norms, self.pad, self.shift = [], [], [], []
        dilation = c.filter_widths[0]
        for width in c.filter_widths[1:]:
            pad = (width - 1) * dilation // 2
            self.pad.append(pad)
            self.shift.append(pad if c.causal else 0)
            convs += [nn.Conv1d(c.channels, c.channels, width, dilation=dilation, bias=False),
                      nn.Conv1d(c.channels, c.channels, 1, bias=False)]
            norms += [nn.BatchNorm1d(c.channels, momentum=0.1), nn.BatchNorm1d(c.channels, momentum=0.1)]
            dilation *= width
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(norms)
        self.shrink = nn.Conv1d(c.channels, 3 * c.num_joints, 1)
        self.drop = nn.Dropout(c.dropout)
        self.relu = nn.ReLU()

    def forward(self, pose2d: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, J, 2) -> (B, J, 3) metres for the window's target frame."""
        return self.forward_target(pose2d, target)

    def forward_target(self, pose2d: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        if pose2d.ndim != 4 or pose2d.shape[1:] != (c.num_frames, c.num_joints, 2):
            raise ValueError(f"expected input (B, {c.num_frames}, {c.num_joints}, 2), got {tuple(pose2d.shape)}")
        b = pose2d.shape[0]
        x = pose2d.reshape(b, c.num_frames, 2 * c.num_joints).transpose(1, 2)  # (B, 2J, T)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, (pad, shift) in enumerate(zip(self.pad, self.shift)):
            residual = x[:, :, pad + shift: x.shape[2] - pad + shift]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = residual + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        return self.shrink(x).view(b, c.num_joints, 3)

    def forward_train(self, pose2d: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The one frame a TCN answers for, (B, 1, J, 3), at ``target`` (B, 1)."""
        return self.forward_target(pose2d, target)[:, None], target[:, None]


PRESETS: dict[str, TCNConfig] = {
    # A live-size peer of live-cpu: the same 81-frame causal window.
    "tcn-81": TCNConfig(filter_widths=(3, 3, 3, 3), channels=256),
    # VideoPose3D's published size (243 frames, 1024 channels).
    "videopose3d-243": TCNConfig(filter_widths=(3, 3, 3, 3, 3), channels=1024),
}

register("tcn", TCNConfig, TCN, PRESETS)
