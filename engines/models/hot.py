"""HoT: Hourglass Tokenizer on a MixSTE backbone (Li et al., CVPR 2024, arXiv 2311.12028).

One model class covers the paper's variants, chosen by plain arguments:

* ``prune=None``: plain MixSTE (every frame token goes through every layer).
* ``prune="tpc"`` (or an ablation: ``"uniform"``, ``"attention"``, ``"motion"``): before layer
  ``prune_layer`` only ``keep_tokens`` frames are kept. Pruning is parameter-free.
* ``seq2seq=True``: the output is every frame of the window. With pruning, ``recover="tra"`` (or the
  ablations ``"nearest"``, ``"linear"``) expands the kept tokens back to all frames after the last
  layer. ``seq2seq=False`` (seq2frame): the output is the token of the *target* frame, which
  pruning always keeps.

The target frame is ``num_frames - 1 - lookahead``: ``lookahead=0`` is causal (the newest frame,
no added delay), ``lookahead=(T-1)//2`` is the paper's centre frame. The target is a tensor input,
so one trained model (and one exported graph) serves any lookahead.

``forward_features`` returns the kept tokens and their frame indices; ``forward_head`` maps tokens
to 3D; ``forward_target`` is the seq2frame head every runtime runs (one pose per window, whatever
the variant), and ``embed_frames`` + ``forward_target_tokens`` split it for the frame-token cache.
This file also owns the named sizes (:data:`PRESETS`) and the import of the authors' released
weights (:func:`official_config`, :func:`checkpoint_filter_fn`), and registers the architecture as
``hot`` (:mod:`engines.models`). Pruning runs in fp32 and uses only export-friendly ops (matmul distances, fixed top-k sizes,
index-based tie-breaks, no in-place index writes) so the graph converts to ONNX and TensorRT.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from engines.models.registry import register

PruneKind = Literal["tpc", "uniform", "attention", "motion"]
RecoverKind = Literal["tra", "nearest", "linear"]


@dataclass(frozen=True)
class HoTConfig:
    """Architecture hyper-parameters. Plain values, so a config round-trips through JSON."""

    num_frames: int = 243
    dim: int = 512
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: float = 2.0
    num_joints: int = 17
    prune: PruneKind | None = "tpc"
    keep_tokens: int = 81
    prune_layer: int = 3
    seq2seq: bool = False
    recover: RecoverKind | None = None
    kept_pos_embed: bool = False  # HoT adds a learnt embedding to the kept tokens (pos_embed_token)
    drop_path: float = 0.1
    knn: int = 2

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        if self.prune is not None:
            if not 1 <= self.prune_layer < self.depth:
                raise ValueError(f"prune_layer={self.prune_layer} must be in [1, depth={self.depth})")
            if not 1 <= self.keep_tokens <= self.num_frames:
                raise ValueError(f"keep_tokens={self.keep_tokens} must be in [1, num_frames={self.num_frames}]")
        if self.kept_pos_embed and self.prune is None:
            raise ValueError("kept_pos_embed needs pruning (prune=...)")
        if self.seq2seq and self.prune and self.recover is None:
            raise ValueError("a pruned seq2seq model needs recover='tra', 'nearest' or 'linear'")
        if self.recover and not (self.seq2seq and self.prune):
            raise ValueError("recover only applies to pruned seq2seq models")

    @property
    def tokens_after_prune(self) -> int:
        return self.keep_tokens if self.prune else self.num_frames

    def target_index(self, lookahead: int) -> int:
        if not 0 <= lookahead < self.num_frames:
            raise ValueError(f"lookahead={lookahead} must be in [0, {self.num_frames - 1}]")
        return self.num_frames - 1 - lookahead

    def to_dict(self) -> dict:
        return asdict(self)


# --- transformer parts --------------------------------------------------------------------------

def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop a residual branch per sample."""
    if rate == 0.0 or not training:
        return x
    keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype) >= rate
    return x * keep / (1 - rate)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(multi_head_attention(self.qkv(x), self.num_heads))


def multi_head_attention(qkv: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Scaled dot-product self-attention per head, packed q|k|v (N, L, 3C) -> merged heads (N, L, C)."""
    n, length, dim = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
    q, k, v = qkv.view(n, length, 3, num_heads, dim // num_heads).permute(2, 0, 3, 1, 4)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, dim)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, drop_path_rate: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_hidden)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)


class TokenRecoveringAttention(nn.Module):
    """TRA: zero-initialised learnable queries, one per frame, cross-attend to the kept tokens."""

    def __init__(self, num_frames: int, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.queries = nn.Parameter(torch.zeros(1, num_frames, dim))
        self.q = nn.Linear(dim, dim, bias=True)
        self.k = nn.Linear(dim, dim, bias=True)
        self.v = nn.Linear(dim, dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, kept: torch.Tensor) -> torch.Tensor:
        n, _, dim = kept.shape
        heads = lambda t: t.view(n, -1, self.num_heads, dim // self.num_heads).transpose(1, 2)  # noqa: E731
        queries = self.queries.expand(n, -1, -1)
        x = F.scaled_dot_product_attention(heads(self.q(queries)), heads(self.k(kept)), heads(self.v(kept)))
        return queries + self.proj(x.transpose(1, 2).reshape(n, -1, dim))


# --- token pruning (parameter-free, fp32) --------------------------------------------------------

def pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between rows, (B, N, C) -> (B, N, N), from matmul and norms (not cdist).

    Made exactly symmetric with a zero diagonal: rounding would otherwise leave each token a small
    random distance from itself and break the exact density tie of two mutual nearest neighbours
    at random, so the kept frames would depend on the backend's float rounding. Rows are centred
    first (distances do not change) to avoid the cancellation error of |a|^2 + |b|^2 - 2ab when
    tokens share a large common offset. The diagonal mask is built from ``arange``, not
    ``torch.eye``: eye exports to a boolean EyeLike node that ONNX Runtime does not implement.
    """
    x = x - x.mean(1, keepdim=True)
    sq = (x * x).sum(-1)
    d2 = sq[:, :, None] + sq[:, None, :] - 2 * x @ x.transpose(1, 2)
    d2 = (d2 + d2.transpose(1, 2)) / 2
    index = torch.arange(x.shape[1], device=x.device)
    self_pair = index[:, None] == index[None, :]
    return d2.masked_fill(self_pair, 0.0).clamp_min(0).sqrt()


def dpc_knn_score(tokens: torch.Tensor, k: int) -> torch.Tensor:
    """DPC-kNN cluster-centre score (density * delta) of each token, (B, N, C) -> (B, N).

    density = exp(-mean squared distance to the k nearest tokens, self included); delta = distance
    to the nearest denser token, or the largest distance for the densest token. Equal densities
    are ordered by index (lower index counts as denser) instead of by random noise, so the result
    is deterministic and exportable.
    """
    dist = pairwise_distance(tokens) / tokens.shape[-1] ** 0.5
    nearest = torch.topk(dist, k=k, dim=-1, largest=False).values
    density = torch.exp(-(nearest ** 2).mean(-1))
    n = tokens.shape[1]
    index = torch.arange(n, device=tokens.device)
    d_row, d_col = density[:, :, None], density[:, None, :]
    denser = (d_col > d_row) | ((d_col == d_row) & (index[None, None, :] < index[None, :, None]))
    dist_max = dist.flatten(1).max(-1).values[:, None, None]
    delta = torch.where(denser, dist, dist_max).min(-1).values
    return density * delta


def uniform_score(tokens: torch.Tensor, keep: int) -> torch.Tensor:
    """1 on an evenly spaced grid of ``keep`` frames, 0 elsewhere (uniform-sampling ablation)."""
    n = tokens.shape[1]
    grid = torch.linspace(0, n - 1, keep, device=tokens.device).round().long()
    score = torch.zeros(n, device=tokens.device).index_fill(0, grid, 1.0)
    return score.expand(tokens.shape[0], n)


def attention_score(tokens: torch.Tensor) -> torch.Tensor:
    """Attention each frame receives from all frames (attention-score pruning ablation)."""
    attn = torch.softmax(tokens @ tokens.transpose(1, 2) / tokens.shape[-1] ** 0.5, dim=-1)
    return attn.mean(1)


def motion_score(tokens: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame change of the token (motion-based pruning ablation)."""
    step = (tokens[:, 1:] - tokens[:, :-1]).norm(dim=-1)
    return torch.cat([step[:, :1], step], dim=1)


def select_frames(score: torch.Tensor, keep: int, target: torch.Tensor | None) -> torch.Tensor:
    """Indices of the ``keep`` frames to keep, in time order: the target plus the top ``keep - 1``
    others, or (``target=None``, seq2seq) simply the top ``keep``."""
    if target is None:
        return torch.sort(torch.topk(score, k=keep, dim=-1).indices, dim=1).values
    n = score.shape[1]
    is_target = torch.arange(n, device=score.device)[None, :] == target[:, None]
    others = torch.topk(score.masked_fill(is_target, float("-inf")), k=keep - 1, dim=-1).indices
    return torch.sort(torch.cat([others, target[:, None]], dim=1), dim=1).values


# --- token recovery without parameters (ablations) ----------------------------------------------

def recovery_weights(kept_index: torch.Tensor, num_frames: int, kind: str) -> torch.Tensor:
    """(B, T, f) weights that expand f kept tokens to T frames by nearest or linear interpolation."""
    t = torch.arange(num_frames, device=kept_index.device, dtype=torch.float32)[None, :, None]
    kept = kept_index.to(torch.float32)[:, None, :]
    if kind == "nearest":
        nearest = (t - kept).abs().argmin(-1)
        return F.one_hot(nearest, kept_index.shape[1]).to(torch.float32)
    big = float(num_frames)
    left = torch.where(kept <= t, kept, -big).max(-1, keepdim=True).values
    right = torch.where(kept >= t, kept, 2 * big).min(-1, keepdim=True).values
    left = torch.where(left < 0, right, left)  # before the first kept frame: hold it
    right = torch.where(right > big, left, right)  # after the last kept frame: hold it
    span = (right - left).clamp_min(1.0)
    w_right = torch.where(right > left, (t - left) / span, torch.zeros_like(t))
    return (kept == left) * (1 - w_right) + (kept == right) * w_right


# --- the model -----------------------------------------------------------------------------------

class HoT(nn.Module):
    """MixSTE backbone with optional token pruning and recovery; see the module docstring."""

    def __init__(self, config: HoTConfig):
        super().__init__()
        c = config
        self.config = c
        self.joint_embed = nn.Linear(2, c.dim)
        self.spatial_pos = nn.Parameter(torch.zeros(1, c.num_joints, c.dim))
        self.temporal_pos = nn.Parameter(torch.zeros(1, c.num_frames, c.dim))
        hidden = int(c.dim * c.mlp_ratio)
        rates = torch.linspace(0, c.drop_path, c.depth).tolist()
        self.spatial_blocks = nn.ModuleList(Block(c.dim, c.num_heads, hidden, r) for r in rates)
        self.temporal_blocks = nn.ModuleList(Block(c.dim, c.num_heads, hidden, r) for r in rates)
        self.spatial_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.temporal_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.kept_pos = nn.Parameter(torch.zeros(1, c.keep_tokens, c.dim)) if c.kept_pos_embed else None
        self.recovery = TokenRecoveringAttention(c.num_frames, c.dim, c.num_heads) if c.recover == "tra" else None
        self.head = nn.Sequential(nn.LayerNorm(c.dim), nn.Linear(c.dim, 3))
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.spatial_pos, self.temporal_pos) + ((self.kept_pos,) if self.kept_pos is not None else ()):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def default_target(self, batch: int, device: torch.device) -> torch.Tensor:
        """The paper's centre frame, used when no target is given."""
        return torch.full((batch,), (self.config.num_frames - 1) // 2, dtype=torch.long, device=device)

    def prune_index(self, x: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """Which frames survive pruning, (B, T, J, C) -> (B, f). Computed in fp32 without gradients."""
        c = self.config
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            pooled = x.float().mean(2)  # pool over joints: one token per frame
            if c.prune == "tpc":
                score = dpc_knn_score(pooled, c.knn)
            elif c.prune == "uniform":
                score = uniform_score(pooled, c.keep_tokens)
            elif c.prune == "attention":
                score = attention_score(pooled)
            else:
                score = motion_score(pooled)
            return select_frames(score, c.keep_tokens, target)

    def _spatial(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Spatial block ``i``: attention over the joints of each frame, (B, F, J, C)."""
        (b, f), j, dim = x.shape[:2], self.config.num_joints, self.config.dim  # static J, C: exported shapes stay known
        return self.spatial_norm(self.spatial_blocks[i](x.reshape(b * f, j, dim))).view(b, f, j, dim)

    def _temporal(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Temporal block ``i``: attention over the frames of each joint, (B, F, J, C)."""
        (b, f), j, dim = x.shape[:2], self.config.num_joints, self.config.dim
        x = x.transpose(1, 2).reshape(b * j, f, dim)
        if i == 0:
            x = x + self.temporal_pos
        x = self.temporal_norm(self.temporal_blocks[i](x))
        return x.view(b, j, f, dim).transpose(1, 2)

    def embed_frames(self, pose2d: torch.Tensor) -> torch.Tensor:
        """Frame tokens: joint embedding and the first spatial block, (B, F, J, 2) -> (B, F, J, C).

        This part of the network sees one frame at a time (the temporal embedding is added after
        it), so a frame's tokens are the same in every window that holds the frame: a streaming
        runtime computes them once per frame instead of once per window
        (``engines.runtime.frame_cache``).
        """
        return self._spatial(0, self.joint_embed(pose2d) + self.spatial_pos)

    def forward_tokens(self, frame_tokens: torch.Tensor, target: torch.Tensor | None = None):
        """Frame tokens (B, T, J, C) from :meth:`embed_frames` -> kept tokens (B, f, J, C) and their
        frame indices (B, f); see :meth:`forward_features`."""
        c = self.config
        if frame_tokens.ndim != 4 or frame_tokens.shape[1:] != (c.num_frames, c.num_joints, c.dim):
            raise ValueError(f"expected frame tokens (B, {c.num_frames}, {c.num_joints}, {c.dim}), "
                             f"got {tuple(frame_tokens.shape)}")
        b, t = frame_tokens.shape[:2]
        if target is None and not c.seq2seq:
            target = self.default_target(b, frame_tokens.device)
        x = self._temporal(0, frame_tokens)
        kept_index = torch.arange(t, device=frame_tokens.device).expand(b, t)
        for i in range(1, c.depth):
            if c.prune and i == c.prune_layer:
                kept_index = self.prune_index(x, None if c.seq2seq else target)
                x = x.gather(1, kept_index[:, :, None, None].expand(-1, -1, c.num_joints, c.dim))
                if self.kept_pos is not None:
                    x = x + self.kept_pos[:, :, None, :]
            x = self._temporal(i, self._spatial(i, x))
        return x, kept_index

    def forward_features(self, pose2d: torch.Tensor, target: torch.Tensor | None = None):
        """(B, T, J, 2) -> kept tokens (B, f, J, C) and their frame indices (B, f).

        ``target`` (B,) is the frame seq2frame predicts; pruning always keeps it. seq2seq models
        keep the top-scoring frames as the paper's HoT does, and ignore it.
        """
        c = self.config
        if pose2d.ndim != 4 or pose2d.shape[1:] != (c.num_frames, c.num_joints, 2):
            raise ValueError(f"expected input (B, {c.num_frames}, {c.num_joints}, 2), got {tuple(pose2d.shape)}")
        return self.forward_tokens(self.embed_frames(pose2d), target)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., 3) in metres."""
        return self.head(tokens)

    def recover(self, tokens: torch.Tensor, kept_index: torch.Tensor) -> torch.Tensor:
        """Expand kept tokens (B, f, J, C) to every frame (B, T, J, C)."""
        c = self.config
        b, f, j, dim = tokens.shape
        if self.recovery is not None:
            per_joint = tokens.transpose(1, 2).reshape(b * j, f, dim)
            return self.recovery(per_joint).view(b, j, c.num_frames, dim).transpose(1, 2)
        weights = recovery_weights(kept_index, c.num_frames, c.recover).to(tokens.dtype)
        return torch.einsum("btf,bfjc->btjc", weights, tokens)

    def forward(self, pose2d: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """seq2seq: (B, T, J, 3). seq2frame: (B, J, 3) for the target frame."""
        tokens, kept_index = self.forward_features(pose2d, target)
        if self.config.seq2seq:
            if self.config.prune:
                tokens = self.recover(tokens, kept_index)
            return self.forward_head(tokens)
        if target is None:
            target = self.default_target(pose2d.shape[0], pose2d.device)
        return self.forward_head(self.target_token(tokens, kept_index, target))

    def target_token(self, tokens: torch.Tensor, kept_index: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The target frame's tokens among the kept ones, (B, f, J, C) -> (B, J, C)."""
        position = (kept_index < target[:, None]).sum(1)  # where the target sits among the kept frames
        index = position[:, None, None, None].expand(-1, 1, self.config.num_joints, self.config.dim)
        return tokens.gather(1, index)[:, 0]

    def forward_target(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, T, J, 2), target (B,) -> the target frame's 3D (B, J, 3), for every variant."""
        return self._target_frame(*self.forward_features(pose2d, target), target)

    def forward_target_tokens(self, frame_tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_target` from frame tokens (B, T, J, C) of :meth:`embed_frames`."""
        return self._target_frame(*self.forward_tokens(frame_tokens, target), target)

    @property
    def token_dim(self) -> int:
        """C of the frame tokens :meth:`embed_frames` makes."""
        return self.config.dim

    def _target_frame(self, tokens: torch.Tensor, kept_index: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not self.config.seq2seq:
            return self.forward_head(self.target_token(tokens, kept_index, target))
        if self.config.prune:
            tokens = self.recover(tokens, kept_index)
        index = target.to(torch.long)[:, None, None, None].expand(-1, 1, self.config.num_joints, self.config.dim)
        return self.forward_head(tokens.gather(1, index)[:, 0])

    def forward_train(self, pose2d: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """3D of every kept token (B, f, J, 3) and their frames (B, f): every kept token is a frame
        the model could answer for, so training supervises them all (:mod:`engines.losses`)."""
        tokens, kept_index = self.forward_features(pose2d, target)
        return self.forward_head(tokens), kept_index

    def kept_frames(self, pose2d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The frames token pruning keeps, (B, f): a discrete choice that export checks compare."""
        return self.forward_features(pose2d, target)[1]


# --- presets --------------------------------------------------------------------------------------

PRESETS: dict[str, HoTConfig] = {
    # Official sizes (paper, Table 1): C=512, L=8, T=243.
    "mixste-243": HoTConfig(num_frames=243, dim=512, depth=8, prune=None, seq2seq=True),
    "hot-mixste-243": HoTConfig(num_frames=243, dim=512, depth=8, prune="tpc", keep_tokens=81,
                                prune_layer=3, seq2seq=True, recover="tra", kept_pos_embed=True),
    "tpc-mixste-243": HoTConfig(num_frames=243, dim=512, depth=8, prune="tpc", keep_tokens=61,
                                prune_layer=7),
    # The project's default live model: causal seq2frame with TPC only; its window runs in under
    # 10 ms on a 2-core CPU through ONNX Runtime with the frame-token cache (tools/bench.py).
    "live-cpu": HoTConfig(num_frames=81, dim=128, depth=4, prune="tpc", keep_tokens=9,
                          prune_layer=1, drop_path=0.0),
}


def unpruned(config: HoTConfig) -> HoTConfig:
    """The same backbone without pruning: plain MixSTE of the same size and output mode."""
    return replace(config, prune=None, recover=None, kept_pos_embed=False)


# --- the authors' released weights ----------------------------------------------------------------

OFFICIAL_VARIANTS = ("mixste", "hot_mixste", "tpc_mixste")

# Official name -> ours, applied in order to every key.
_OFFICIAL_RENAMES = (
    (r"^Spatial_patch_to_embedding\.", "joint_embed."),
    (r"^Spatial_pos_embed$", "spatial_pos"),
    (r"^Temporal_pos_embed$", "temporal_pos"),
    (r"^STEblocks\.", "spatial_blocks."),
    (r"^TTEblocks\.", "temporal_blocks."),
    (r"^Spatial_norm\.", "spatial_norm."),
    (r"^Temporal_norm\.", "temporal_norm."),
    (r"^pos_embed_token$", "kept_pos"),
    (r"^x_token$", "recovery.queries"),
    (r"^cross_attention\.linear_([qkv])\.", r"recovery.\1."),
    (r"^cross_attention\.proj\.", "recovery.proj."),
)


def official_config(state: dict[str, torch.Tensor], variant: str, keep_tokens: int | None = None,
                    prune_layer: int | None = None) -> HoTConfig:
    """The sizes read from an official state_dict's shapes; the rest from the variant's defaults."""
    if variant not in OFFICIAL_VARIANTS:
        raise ValueError(f"unknown arch {variant!r}; choose one of {', '.join(OFFICIAL_VARIANTS)}")
    try:
        dim = state["Spatial_pos_embed"].shape[-1]
        num_joints = state["Spatial_pos_embed"].shape[1]
        num_frames = state["Temporal_pos_embed"].shape[1]
        depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"STEblocks\.(\d+)\.", k)))
        mlp_ratio = state["STEblocks.0.mlp.fc1.weight"].shape[0] / dim
    except (KeyError, ValueError) as e:
        raise ValueError(f"not an official MixSTE-family state_dict (missing {e})") from None
    common = dict(num_frames=num_frames, dim=dim, depth=depth, mlp_ratio=mlp_ratio, num_joints=num_joints)
    try:
        if variant == "mixste":
            return HoTConfig(**common, prune=None, seq2seq=True)
        if variant == "hot_mixste":
            kept = state["pos_embed_token"].shape[1] if "pos_embed_token" in state else keep_tokens
            return HoTConfig(**common, prune="tpc", seq2seq=True, recover="tra", kept_pos_embed=True,
                             keep_tokens=81 if kept is None else kept,
                             prune_layer=3 if prune_layer is None else prune_layer)
        return HoTConfig(**common, prune="tpc", keep_tokens=61 if keep_tokens is None else keep_tokens,
                         prune_layer=7 if prune_layer is None else prune_layer)
    except ValueError as e:  # e.g. the paper's 61 kept tokens for a shorter window
        raise ValueError(f"{variant} with T={num_frames}, depth={depth}: {e} "
                         "(give the keep-tokens / prune-layer the model was trained with)") from None


def checkpoint_filter_fn(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official state_dict renamed to this model's keys (the only place that knows both namings)."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _OFFICIAL_RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


register("hot", HoTConfig, HoT, PRESETS)
