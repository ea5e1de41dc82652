"""Train a lifter (any architecture of :mod:`engines.models`) on synthetic 2D/3D pairs made from mocap clips.

One process trains on CPU or one GPU; under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) each process
trains on its share of the batches (``DistributedSampler``) and gradients are averaged with DDP
(``gloo`` on CPU, ``nccl`` on GPU)::

    torchrun --nproc_per_node 4 tools/train.py --preset live-cpu --data data/mocap --out runs/x

A run directory holds ``last.safetensors`` (weights + config + info, :mod:`engines.checkpoint`),
``optimizer.pt`` (tensors and numbers only, loaded with ``weights_only=True``), ``state.json``
(step, epoch, elapsed time), ``metrics.csv``, TensorBoard events in ``tb/``, ``curves.png`` and,
when training ends, ``model.safetensors``. ``resume=True`` continues from the first three.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from engines.checkpoint import load_model, save_checkpoint
from engines.data import synth
from engines.data.mocap import load_cache, load_user_clip, split_holdout
from engines.evaluate_video import engine_lift, evaluate_reference
from engines.losses import seq2frame_loss
from engines.metrics import mpjpe, p_mpjpe
from engines.models import create_model, get_preset
from engines.models.hot import HoTConfig, unpruned
from engines.reference import Reference

# Whole clips the shipped model never trains on: the Boxing_Toes BVH, the only clip of its source
# (assimp), so a source never seen, and the squat C3D, a clip of a source (DART) seen otherwise.
DEFAULT_HOLDOUT = ("*Boxing_Toes", "*squat")


@dataclass
class TrainConfig:
    """Everything that decides a training run (recorded in the checkpoint's info)."""

    out: str = "runs/live-cpu"
    preset: str = "live-cpu"
    overrides: dict = field(default_factory=dict)  # the preset's config fields, e.g. {"num_frames": 1, "prune": None}
    no_prune: bool = False  # the same backbone without pruning (engines.models.hot.unpruned)
    steps: int = 1600
    minutes: float | None = None  # stop (and finish the LR schedule) after this much training time
    steps_per_epoch: int = 50
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 30
    grad_clip: float = 1.0
    seed: int = 0
    val_windows: int = 128
    snapshots: bool = False  # also keep step_<N>.safetensors at every epoch (for equal-step comparisons)
    threads: int = 2
    resume: bool = False
    init: str | None = None  # start from these weights (same architecture)
    augmentation: dict = field(default_factory=dict)  # synth.Augmentation fields, e.g. {"limb_rotation_deg": 0}
    noise: dict = field(default_factory=dict)  # synth.DetectorNoise fields, e.g. {"swap_body_prob": 0}
    cameras: dict = field(default_factory=dict)  # synth.CameraRanges fields, e.g. {"hfov_deg": (30, 85)}
    reference: str | None = None  # a multi-camera reference (tools/triangulate.py) to evaluate on ...
    reference_every: int = 300  # ... every this many steps (at the end of an epoch)


def model_config(cfg: TrainConfig):
    """The model config a training config describes (a HoT trains seq2frame, without drop-path
    unless asked)."""
    overrides = dict(cfg.overrides)
    if isinstance(get_preset(cfg.preset), HoTConfig) and not overrides.get("seq2seq", False):
        overrides.setdefault("drop_path", 0.0)
    try:
        config = get_preset(cfg.preset, **overrides)
    except TypeError as e:  # an override that is no field of the preset's config
        raise ValueError(f"bad model override in {sorted(overrides)}: {e}") from None
    if getattr(config, "seq2seq", False):
        raise ValueError(f"preset {cfg.preset!r} is seq2seq; this trainer trains seq2frame models")
    if cfg.no_prune and not isinstance(config, HoTConfig):
        raise ValueError(f"--no-prune: preset {cfg.preset!r} is no HoT model; it has nothing to prune")
    return unpruned(config) if cfg.no_prune else config


# --- data ---------------------------------------------------------------------------------------

def load_mix(path: str | Path | None) -> dict:
    """A data-mix YAML: ``sources: {name: weight}`` (sampling weight per source, default 1) and
    ``user: [{path: file.bvh, weight: 1.0}, ...]`` (extra clips from user BVH/AMC/C3D/npz files)."""
    if path is None:
        return {"sources": {}, "user": []}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data-mix file not found: {path}")
    mix = yaml.safe_load(path.read_text()) or {}
    unknown = set(mix) - {"sources", "user"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)} (expected 'sources' and 'user')")
    user = [{"path": u, "weight": 1.0} if isinstance(u, str) else u for u in mix.get("user") or []]
    return {"sources": dict(mix.get("sources") or {}), "user": user}


def load_clips(data_dir: str | Path, user_sources: Sequence[str | Path] = (),
               mix: dict | None = None) -> tuple[list, np.ndarray]:
    """Clips of the mocap cache plus user files, and each clip's sampling weight."""
    mix = mix or {"sources": {}, "user": []}
    clips = list(load_cache(data_dir))
    weights = [float(mix["sources"].get(c.source, 1.0)) for c in clips]
    user = [{"path": p, "weight": 1.0} for p in user_sources] + list(mix["user"])
    for entry in user:
        clips.append(load_user_clip(entry["path"]))
        weights.append(float(entry.get("weight", 1.0)))
    if not clips:
        raise ValueError(f"no clips in {data_dir} or the user sources")
    return clips, np.asarray(weights)


def train_on_mocap(cfg: TrainConfig, data: str | Path = "data/mocap", holdout: Sequence[str] = DEFAULT_HOLDOUT,
                   user_sources: Sequence[str | Path] = (), mix: str | Path | None = None) -> Path:
    """:func:`train` on the mocap cache (plus user clips and a data-mix file), with the clips
    matching the ``holdout`` glob patterns held out for validation."""
    clips, weights = load_clips(data, user_sources, load_mix(mix))
    train_clips, val_clips = split_holdout(clips, holdout)
    train_ids = {id(c) for c in train_clips}
    keep = [id(c) in train_ids for c in clips]
    data_info = {"cache": str(data), "user_sources": [str(u) for u in user_sources], "mix": mix and str(mix),
                 "train_sources": sorted({c.source for c in train_clips}),
                 "train_clips": len(train_clips), "holdout_patterns": list(holdout)}
    return train(cfg, train_clips, val_clips, weights[keep], data_info)


# --- distributed --------------------------------------------------------------------------------

def setup_distributed() -> tuple[int, int, torch.device, bool]:
    """(rank, world size, device, whether this call started the process group). Under torchrun
    (``RANK`` set) a process group is started, even for one process, so that path is testable."""
    cuda = torch.cuda.is_available()
    if "RANK" not in os.environ:
        return 0, 1, torch.device("cuda" if cuda else "cpu"), False
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device, started


class TrainingOutput(nn.Module):
    """The model's ``forward_train`` (3D of the supervised frames, and which frames) as one
    ``forward``, so DDP can hook it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pose2d: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_train(pose2d, target)


# --- the loop -----------------------------------------------------------------------------------

def lr_factor(progress: float, step: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 1% over training progress in [0, 1]."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def validate(model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, chunk: int = 64) -> dict:
    """Target-frame MPJPE and P-MPJPE (mm) on fixed validation windows."""
    model.eval()
    preds = []
    for i in range(0, len(batch["pose2d"]), chunk):
        preds.append(model.forward_target(batch["pose2d"][i:i + chunk].to(device),
                                          batch["target_index"][i:i + chunk].to(device)).cpu())
    model.train()
    pred = torch.cat(preds).numpy()
    idx = batch["target_index"].numpy()
    truth = batch["target3d"].numpy()[np.arange(len(idx)), idx]
    return {"val_mpjpe_mm": 1000 * mpjpe(pred, truth), "val_p_mpjpe_mm": 1000 * p_mpjpe(pred, truth)}


def validation_batch(clips: Sequence, num_frames: int, n: int, seed: int) -> dict[str, torch.Tensor]:
    """Fixed, noisy validation windows from held-out clips, without augmentation of the body."""
    rng = np.random.default_rng([seed, 7])
    aug = synth.Augmentation(time_warp=(1.0, 1.0), body_scale=(1.0, 1.0), bone_scale_std=0.0, mirror_prob=0.0,
                             limb_rotation_deg=0.0, mix_bodies_prob=0.0)
    batch = synth.make_pairs(clips, rng, n, num_frames, aug=aug)
    return {k: torch.from_numpy(v) for k, v in batch.items()}


class RunLog:
    """Metrics to CSV and TensorBoard (rank 0 only), and curves to PNG at the end."""

    FIELDS = ("step", "epoch", "elapsed_s", "lr", "loss", "train_mpjpe_mm", "val_mpjpe_mm", "val_p_mpjpe_mm",
              "real_p_mpjpe_mm", "real_p_mpjpe_fused_mm")

    def __init__(self, out: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.path = out / "metrics.csv"
        if not self.path.exists():
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.FIELDS)
        self.writer = SummaryWriter(str(out / "tb"))

    def write(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self.FIELDS])
        for key, value in row.items():
            if key not in ("step", "epoch") and value != "":
                self.writer.add_scalar(key, value, row["step"])
        self.writer.flush()

    def plot(self, png: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with open(self.path) as f:
            rows = list(csv.DictReader(f))
        real = [(int(r["step"]), float(r["real_p_mpjpe_mm"]), float(r["real_p_mpjpe_fused_mm"]))
                for r in rows if r.get("real_p_mpjpe_mm")]
        fig, axes = plt.subplots(1, 3 if real else 2, figsize=(15 if real else 10, 4))
        ax_loss, ax_err = axes[:2]
        steps = [int(r["step"]) for r in rows]
        ax_loss.plot(steps, [float(r["loss"]) for r in rows])
        ax_loss.set(xlabel="step", ylabel="training loss", yscale="log")
        ax_err.plot(steps, [float(r["train_mpjpe_mm"]) for r in rows], label="train (target frame)")
        val = [(int(r["step"]), float(r["val_mpjpe_mm"])) for r in rows if r["val_mpjpe_mm"]]
        if val:
            ax_err.plot(*zip(*val), label="held-out clips")
        ax_err.set(xlabel="step", ylabel="MPJPE (mm)")
        ax_err.legend()
        if real:
            steps_real, lifter, fused = zip(*real)
            axes[2].plot(steps_real, lifter, "o-", label="lifter")
            axes[2].plot(steps_real, fused, "o-", label="fused with MediaPipe world")
            axes[2].set(xlabel="step", ylabel="real-video P-MPJPE (mm), mean of cameras")
            axes[2].legend()
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        plt.close(fig)

    def close(self) -> None:
        self.writer.close()


def _tuples(fields: dict) -> dict:
    """JSON lists as the tuples the frozen recipe dataclasses hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def real_video_errors(weights: Path, reference: Reference, threads: int) -> dict:
    """Mean P-MPJPE over the reference's cameras of the lifter (causal) and of the fused output."""
    rows = evaluate_reference(engine_lift(weights, "torch", 0, False, threads), reference)
    mean = {r["output"]: r["p_mpjpe"] for r in rows if r["camera"] == "mean"}
    return {"real_p_mpjpe_mm": mean["lifter"], "real_p_mpjpe_fused_mm": mean["fused"]}


def _save(out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict, info: dict,
          snapshot: bool = False) -> None:
    save_checkpoint(out / "last.safetensors", model, info | {"steps": state["step"]})
    if snapshot:
        save_checkpoint(out / f"step_{state['step']}.safetensors", model, info | {"steps": state["step"]})
    torch.save(optimizer.state_dict(), out / "optimizer.pt")
    (out / "state.json").write_text(json.dumps(state))


def train(cfg: TrainConfig, train_clips: Sequence, val_clips: Sequence = (),
          clip_weights: np.ndarray | None = None, data_info: dict | None = None) -> Path:
    """Train, checkpoint every epoch, and return the path of the final ``model.safetensors``."""
    torch.set_num_threads(cfg.threads)
    rank, world, device, started_group = setup_distributed()
    distributed = dist.is_initialized()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    config = model_config(cfg)
    model = create_model(config).to(device)
    if cfg.init:
        init_model, _ = load_model(cfg.init)
        if init_model.config != config:
            raise ValueError(f"--init {cfg.init}: its config {init_model.config} differs from {config}")
        model.load_state_dict(init_model.state_dict(), strict=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = {"step": 0, "epoch": 0, "elapsed_s": 0.0}
    if cfg.resume:
        if not (out / "last.safetensors").is_file():
            raise FileNotFoundError(f"--resume: no checkpoint in {out}")
        resumed, _ = load_model(out / "last.safetensors")
        if resumed.config != config:
            raise ValueError(f"--resume: {out} was trained with a different model config")
        model.load_state_dict(resumed.state_dict(), strict=True)
        optimizer.load_state_dict(torch.load(out / "optimizer.pt", map_location=device, weights_only=True))
        state = json.loads((out / "state.json").read_text())
    lifter = TrainingOutput(model)
    if distributed:
        lifter = DistributedDataParallel(lifter, device_ids=[device.index] if device.type == "cuda" else None)

    try:
        recipe = {"aug": synth.Augmentation(**_tuples(cfg.augmentation)),
                  "noise": synth.DetectorNoise(**_tuples(cfg.noise)),
                  "cameras": synth.CameraRanges(**_tuples(cfg.cameras))}
    except TypeError as e:  # a field that does not exist
        raise ValueError(f"bad data recipe override: {e}") from None
    if recipe["aug"].mediapipe_definitions:
        train_clips, val_clips = synth.with_mediapipe_heads(train_clips), synth.with_mediapipe_heads(val_clips)
    dataset = synth.PairBatches(train_clips, cfg.steps_per_epoch, cfg.batch_size, config.num_frames,
                                seed=cfg.seed, clip_weights=clip_weights, **recipe)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False) if distributed else None
    loader = DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=0)
    val_batch = validation_batch(val_clips, config.num_frames, cfg.val_windows, cfg.seed) if val_clips else None
    log = RunLog(out) if rank == 0 else None
    real_reference = Reference.load(cfg.reference) if cfg.reference and rank == 0 else None
    info = {"preset": cfg.preset, "fps": synth.FPS, "train": asdict(cfg), "world_size": world,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "torch": torch.__version__,
            "data": data_info or {"train_clips": [c.name for c in train_clips]},
            "holdout": [c.name for c in val_clips]}

    budget_s = cfg.minutes * 60 if cfg.minutes else None
    total = tqdm(total=cfg.steps, initial=state["step"], desc="train", disable=rank != 0, dynamic_ncols=True)
    started = time.monotonic() - state["elapsed_s"]
    done = state["step"] >= cfg.steps
    while not done:
        dataset.set_epoch(state["epoch"])
        if sampler is not None:
            sampler.set_epoch(state["epoch"])
        losses, errors = [], []
        for batch in loader:
            elapsed = time.monotonic() - started
            progress = max(state["step"] / cfg.steps, elapsed / budget_s if budget_s else 0.0)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(progress, state["step"], cfg.warmup_steps)
            pose2d, target3d = batch["pose2d"].to(device), batch["target3d"].to(device)
            target_index = batch["target_index"].to(device)
            tokens_3d, kept_index = lifter(pose2d, target_index)
            loss, parts = seq2frame_loss(tokens_3d, kept_index, target3d, target_index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            state["step"] += 1
            with torch.no_grad():  # target-frame MPJPE in mm
                hit = kept_index == target_index[:, None]
                truth = target3d[torch.arange(len(target_index)), target_index]
                error = torch.linalg.norm(tokens_3d[hit] - truth, dim=-1).mean().item() * 1000
            losses.append(loss.item())
            errors.append(error)
            total.update(1)
            total.set_postfix(epoch=state["epoch"], loss=f"{loss.item():.4f}", mpjpe_mm=f"{error:.1f}")
            if state["step"] >= cfg.steps or (budget_s and time.monotonic() - started >= budget_s):
                done = True
                break
        state["epoch"] += 1
        state["elapsed_s"] = time.monotonic() - started
        if rank == 0 and losses:
            row = {"step": state["step"], "epoch": state["epoch"], "elapsed_s": round(state["elapsed_s"], 1),
                   "lr": optimizer.param_groups[0]["lr"], "loss": float(np.mean(losses)),
                   "train_mpjpe_mm": float(np.mean(errors))}
            if val_batch is not None:
                row |= validate(model, val_batch, device)
                total.write(f"epoch {state['epoch']}: step {state['step']} loss {row['loss']:.4f} "
                            f"train {row['train_mpjpe_mm']:.1f} mm, held-out {row['val_mpjpe_mm']:.1f} mm")
            _save(out, model, optimizer, state, info | {"wall_time_s": round(state["elapsed_s"], 1)}, cfg.snapshots)
            if real_reference is not None and state["step"] % cfg.reference_every == 0:
                row |= real_video_errors(out / "last.safetensors", real_reference, cfg.threads)
                total.write(f"step {state['step']}: real-video P-MPJPE {row['real_p_mpjpe_mm']:.1f} mm, "
                            f"fused {row['real_p_mpjpe_fused_mm']:.1f} mm")
            log.write(row)
    total.close()
    final = out / "model.safetensors"
    if rank == 0:
        info |= {"steps": state["step"], "wall_time_s": round(state["elapsed_s"], 1)}
        save_checkpoint(final, model, info)
        _save(out, model, optimizer, state, info)
        log.plot(out / "curves.png")
        log.close()
    if distributed:
        dist.barrier()
    if started_group:
        dist.destroy_process_group()
    return final
