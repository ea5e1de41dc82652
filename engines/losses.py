"""Training losses of MixSTE and HoT, adapted to seq2frame with token pruning.

MixSTE (and HoT after it) trains with a joint-weighted MPJPE, a temporal-consistency term that
penalises predicted motion, and a velocity term that matches predicted to true motion:
``L = WMPJPE + 0.5 * TC + 2.0 * MPJVE``. A seq2frame HoT model only outputs the target frame, but
every token it keeps is a frame it could answer for, so all kept tokens are supervised at their
own frames (denser gradients from the same forward pass) and the target frame is weighted extra.
"""
from __future__ import annotations

import torch

# MixSTE's per-joint weights in H36M-17 order: extremities (knees, ankles, elbows, wrists) count more.
JOINT_WEIGHTS = (1.0, 1.0, 2.5, 2.5, 1.0, 2.5, 2.5, 1.0, 1.0, 1.0, 1.5, 1.5, 4.0, 4.0, 1.5, 4.0, 4.0)


def temporal_consistency(pred: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """MixSTE's TC loss: joint-weighted mean squared frame-to-frame change, poses (B, F, J, 3)."""
    step = pred[:, 1:] - pred[:, :-1]
    return (weights[:, None] * step ** 2).mean()


def velocity_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint velocity error (MPJVE) along the frame axis 1, poses (B, F, J, 3)."""
    return torch.linalg.norm(torch.diff(pred, dim=1) - torch.diff(target, dim=1), dim=-1).mean()


def seq2frame_loss(tokens_3d: torch.Tensor, kept_index: torch.Tensor, target3d: torch.Tensor,
                   target_index: torch.Tensor, target_weight: float = 1.0, tc_weight: float = 0.5,
                   velocity_weight: float = 2.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss for the 3D of every kept token (B, f, J, 3) at frames ``kept_index`` (B, f), against
    the whole window's truth (B, T, J, 3), with the target frame ``target_index`` (B,) counted
    ``1 + target_weight`` times. Returns the total and its parts (for logging)."""
    weights = torch.tensor(JOINT_WEIGHTS, dtype=tokens_3d.dtype, device=tokens_3d.device)
    truth = target3d.gather(1, kept_index[:, :, None, None].expand(-1, -1, *target3d.shape[2:]))
    is_target = (kept_index == target_index[:, None]).to(tokens_3d.dtype)  # exactly one per row
    per_token = (weights * torch.linalg.norm(tokens_3d - truth, dim=-1)).mean(-1)  # (B, f)
    parts = {"wmpjpe": per_token.mean(),
             "target": (per_token * is_target).sum(1).mean()}
    total = parts["wmpjpe"] + target_weight * parts["target"]
    if tokens_3d.shape[1] > 1:
        parts["tc"] = temporal_consistency(tokens_3d, weights)
        parts["velocity"] = velocity_error(tokens_3d, truth)
        total = total + tc_weight * parts["tc"] + velocity_weight * parts["velocity"]
    return total, parts
