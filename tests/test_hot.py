"""The HoT/MixSTE model: output modes, token pruning and recovery, determinism, training signal,
strict and safe checkpoint loading, import of the authors' official state_dicts, ONNX export."""
from __future__ import annotations

import os
import re
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engines.checkpoint import (CheckpointError, file_sha256, import_official, load_model, load_official, load_strict,
                                save_checkpoint)
from engines.flops import count_flops, count_params, flop_breakdown
from engines.models.hot import HoT, HoTConfig, official_config, pairwise_distance

T, C = 27, 32
MIXSTE = HoTConfig(num_frames=T, dim=C, depth=4, prune=None, seq2seq=True, drop_path=0.0)
HOT = HoTConfig(num_frames=T, dim=C, depth=4, prune="tpc", keep_tokens=9, prune_layer=2, seq2seq=True,
                recover="tra", kept_pos_embed=True, drop_path=0.0)
TPC = HoTConfig(num_frames=T, dim=C, depth=4, prune="tpc", keep_tokens=9, prune_layer=2, drop_path=0.0)
PRUNE_KINDS = ("tpc", "uniform", "attention", "motion")
RECOVER_KINDS = ("tra", "nearest", "linear")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(config: HoTConfig, seed: int = 0) -> HoT:
    torch.manual_seed(seed)
    return HoT(config).eval()


def poses(batch: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, T, 17, 2, generator=torch.Generator().manual_seed(seed))


def targets(lookaheads: list[int]) -> torch.Tensor:
    return torch.tensor([T - 1 - k for k in lookaheads])


# --- output modes ---------------------------------------------------------------------------------

def test_mixste_seq2seq_shape():
    assert build(MIXSTE)(poses()).shape == (3, T, 17, 3)


@pytest.mark.parametrize("recover", RECOVER_KINDS)
def test_hot_seq2seq_shape(recover):
    model = build(replace(HOT, recover=recover, kept_pos_embed=recover == "tra"))
    assert model(poses()).shape == (3, T, 17, 3)


def test_frame_tokens_depend_on_their_own_frame_only():
    """What the runtime's frame-token cache relies on: a frame's tokens are the same in any window."""
    model, x = build(TPC), poses()
    with torch.inference_mode():
        tokens = model.embed_frames(x)
        alone = model.embed_frames(x[:, 5:6])
        shifted = model.embed_frames(torch.cat([x[:, 1:], x[:, :1]], dim=1))
        torch.testing.assert_close(alone[:, 0], tokens[:, 5], rtol=0, atol=1e-6)
        torch.testing.assert_close(shifted[:, 4], tokens[:, 5], rtol=0, atol=1e-6)
        split = model.forward_tokens(tokens, targets([0, 3, 5]))
        whole = model.forward_features(x, targets([0, 3, 5]))
    torch.testing.assert_close(split, whole, rtol=0, atol=0)


@pytest.mark.parametrize("prune", PRUNE_KINDS)
@pytest.mark.parametrize("lookaheads", [[0, 0, 0], [13, 13, 13], [26, 5, 0]])
def test_seq2frame_shape_any_lookahead(prune, lookaheads):
    model = build(replace(TPC, prune=prune))
    assert model(poses(), targets(lookaheads)).shape == (3, 17, 3)


def test_seq2frame_output_is_the_target_frames_token():
    model = build(TPC)
    x, target = poses(), targets([0, 13, 20])
    with torch.no_grad():
        tokens, kept = model.forward_features(x, target)
        every_kept = model.forward_head(tokens)
        out = model(x, target)
    for b in range(3):
        position = (kept[b] == target[b]).nonzero().item()
        torch.testing.assert_close(out[b], every_kept[b, position])


def test_default_target_is_the_centre_frame():
    model = build(TPC)
    x = poses()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x, torch.full((3,), (T - 1) // 2)))


def test_bad_inputs_and_configs_are_rejected():
    with pytest.raises(ValueError, match="expected input"):
        build(TPC)(torch.zeros(1, T - 1, 17, 2))
    with pytest.raises(ValueError, match="lookahead"):
        TPC.target_index(T)
    with pytest.raises(ValueError, match="keep_tokens"):
        replace(TPC, keep_tokens=T + 1)
    with pytest.raises(ValueError, match="recover"):
        replace(HOT, recover=None)
    with pytest.raises(ValueError, match="divisible"):
        replace(TPC, dim=30)


# --- pruning --------------------------------------------------------------------------------------

@pytest.mark.parametrize("prune", PRUNE_KINDS)
def test_kept_frames_are_distinct_in_time_order_and_include_the_target(prune):
    model = build(replace(TPC, prune=prune))
    target = targets([0, 13, 26, 7])
    with torch.no_grad():
        _, kept = model.forward_features(poses(4), target)
    assert kept.shape == (4, TPC.keep_tokens)
    assert (kept[:, 1:] > kept[:, :-1]).all(), "kept frames must be distinct and sorted"
    assert (kept == target[:, None]).any(1).all(), "the target frame must be kept"
    assert ((kept >= 0) & (kept < T)).all()


def test_hot_seq2seq_keeps_distinct_sorted_frames():
    with torch.no_grad():
        _, kept = build(HOT).forward_features(poses())
    assert kept.shape == (3, HOT.keep_tokens)
    assert (kept[:, 1:] > kept[:, :-1]).all()


def test_token_distances_are_exactly_symmetric_with_a_zero_diagonal():
    """Two mutual nearest neighbours then have bitwise-equal densities, so their tie is broken by
    frame index, not by float rounding that differs between PyTorch, ONNX Runtime and TensorRT."""
    tokens = 10 * torch.randn(3, T, 64, generator=torch.Generator().manual_seed(2))
    dist = pairwise_distance(tokens)
    assert torch.equal(dist, dist.transpose(1, 2))
    assert torch.count_nonzero(dist.diagonal(dim1=1, dim2=2)) == 0
    exact = torch.cdist(tokens.double(), tokens.double()).float()
    torch.testing.assert_close(dist, exact, atol=1e-3, rtol=1e-5)


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_tpc_picks_a_frame_from_every_constant_segment(noise):
    """Four segments of identical (or nearly identical) tokens: DPC-kNN finds one cluster centre per
    segment, so pruning keeps at least one frame of each however the segments are laid out."""
    model = build(TPC)
    gen = torch.Generator().manual_seed(3)
    bounds = [0, 4, 15, 19, T]  # unequal lengths: uniform sampling would not guarantee this
    values = torch.randn(4, 17, C, generator=gen)
    segment_of = torch.cat([torch.full((b - a,), s) for s, (a, b) in enumerate(zip(bounds, bounds[1:]))])
    tokens = values[segment_of][None] + noise * torch.randn(1, T, 17, C, generator=gen)
    target = targets([0])
    kept = model.prune_index(tokens, target)[0]
    assert set(segment_of[kept].tolist()) == {0, 1, 2, 3}
    assert T - 1 in kept.tolist()


# --- recovery -------------------------------------------------------------------------------------

@pytest.mark.parametrize("recover", RECOVER_KINDS)
def test_recovery_restores_every_frame(recover):
    model = build(replace(HOT, recover=recover, kept_pos_embed=recover == "tra"))
    tokens = torch.randn(2, HOT.keep_tokens, 17, C)
    kept = torch.stack([torch.arange(0, T, 3), torch.tensor([0, 1, 2, 5, 9, 13, 20, 25, 26])])
    with torch.no_grad():
        full = model.recover(tokens, kept)
    assert full.shape == (2, T, 17, C)
    if recover != "tra":  # interpolation reproduces the kept tokens at their own frames
        torch.testing.assert_close(full.gather(1, kept[:, :, None, None].expand(-1, -1, 17, C)), tokens)


def test_linear_recovery_interpolates_between_kept_frames():
    model = build(replace(HOT, recover="linear", kept_pos_embed=False))
    kept = torch.arange(0, T, 3)[None]  # frames 0, 3, ..., 24; frames 25, 26 hold the last
    tokens = kept.float()[:, :, None, None].expand(1, -1, 17, C)  # token value = its frame index
    full = model.recover(tokens, kept)[0, :, 0, 0]
    torch.testing.assert_close(full, torch.tensor([float(min(t, 24)) for t in range(T)]))


def test_tra_queries_start_at_zero():
    model = build(HOT)
    assert torch.count_nonzero(model.recovery.queries) == 0


# --- determinism and training --------------------------------------------------------------------

@pytest.mark.parametrize("config", [HOT, TPC, replace(TPC, prune="attention")], ids=["hot", "tpc", "attention"])
def test_deterministic_and_independent_of_batch_mates(config):
    model = build(config)
    x, target = poses(4), targets([0, 3, 13, 26])
    with torch.no_grad():
        out1, (_, kept1) = model(x, target), model.forward_features(x, target)
        out2, (_, kept2) = model(x, target), model.forward_features(x, target)
        alone = torch.cat([model(x[i:i + 1], target[i:i + 1]) for i in range(4)])
    assert torch.equal(out1, out2) and torch.equal(kept1, kept2)
    torch.testing.assert_close(alone, out1, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", [HOT, TPC], ids=["hot", "tpc"])
def test_a_few_optimiser_steps_reduce_the_loss(config):
    model = build(replace(config, drop_path=0.1)).train()
    x = poses(4)
    pose = x.mean(1) @ torch.randn(2, 3, generator=torch.Generator().manual_seed(5))  # one learnable pose per clip
    y = pose[:, None].expand(-1, T, -1, -1) if config.seq2seq else pose
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(10):
        loss = (model(x) - y).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


# --- our checkpoint format ------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    model = build(HOT)
    save_checkpoint(tmp_path / "m.safetensors", model, info={"fps": 50})
    loaded, info = load_model(tmp_path / "m.safetensors")
    assert loaded.config == HOT and info == {"fps": 50}
    with torch.no_grad():
        torch.testing.assert_close(loaded(poses()), model(poses()), rtol=0, atol=0)


def test_strict_loading_names_missing_extra_and_misshapen_keys():
    model = build(TPC)
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "head.1.bias"}
    with pytest.raises(CheckpointError, match=r"src\.pth: missing keys \['head\.1\.bias'\]"):
        load_strict(model, missing, "src.pth")
    with pytest.raises(CheckpointError, match=r"unused keys \['extra'\]"):
        load_strict(model, {**state, "extra": torch.zeros(1)}, "src.pth")
    with pytest.raises(CheckpointError, match=r"shape mismatch temporal_pos \(1, 9, 32\) vs \(1, 27, 32\)"):
        load_strict(model, {**state, "temporal_pos": torch.zeros(1, 9, C)}, "src.pth")


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="bad.safetensors: not a readable safetensors"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "absent.safetensors")


# --- the authors' official checkpoints -----------------------------------------------------------

# Ours -> official names: the inverse of engines.checkpoint's renaming, written out independently
# here so the test checks the importer against the authors' naming rather than against itself.
TO_OFFICIAL = (
    (r"^joint_embed\.", "Spatial_patch_to_embedding."),
    (r"^spatial_pos$", "Spatial_pos_embed"),
    (r"^temporal_pos$", "Temporal_pos_embed"),
    (r"^spatial_blocks\.", "STEblocks."),
    (r"^temporal_blocks\.", "TTEblocks."),
    (r"^spatial_norm\.", "Spatial_norm."),
    (r"^temporal_norm\.", "Temporal_norm."),
    (r"^kept_pos$", "pos_embed_token"),
    (r"^recovery\.queries$", "x_token"),
    (r"^recovery\.([qkv])\.", r"cross_attention.linear_\1."),
    (r"^recovery\.proj\.", "cross_attention.proj."),
)


def official_state(model: HoT) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in model.state_dict().items():
        for pattern, repl in TO_OFFICIAL:
            key = re.sub(pattern, repl, key)
        state[key] = value.clone()
    return state


OFFICIAL_CASES = {
    "mixste": (MIXSTE, {}),
    "hot_mixste": (HOT, {"prune_layer": 2}),
    "tpc_mixste": (TPC, {"keep_tokens": 9, "prune_layer": 2}),
    "tpc_mixste-C64": (HoTConfig(num_frames=T, dim=64, depth=8, prune="tpc", keep_tokens=7, prune_layer=5),
                       {"keep_tokens": 7, "prune_layer": 5}),
    "hot_mixste-C64": (HoTConfig(num_frames=T, dim=64, depth=8, prune="tpc", keep_tokens=9, prune_layer=3,
                                 seq2seq=True, recover="tra", kept_pos_embed=True), {}),
}


@pytest.mark.parametrize("case", OFFICIAL_CASES)
def test_official_state_dict_round_trip(case, tmp_path):
    config, overrides = OFFICIAL_CASES[case]
    arch = case.split("-")[0]
    model = build(config)
    with torch.no_grad():  # the TRA queries are zero at init: make them matter
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "official.pth"
    torch.save({"model_pos": {f"module.{k}": v for k, v in official_state(model).items()}}
               if case == "hot_mixste" else official_state(model), path)  # wrapped DataParallel form too
    loaded = load_official(path, arch, **overrides)
    assert loaded.config.dim == config.dim and loaded.config.num_frames == config.num_frames
    assert loaded.config.tokens_after_prune == config.tokens_after_prune
    assert loaded.config.seq2seq == config.seq2seq and loaded.config.recover == config.recover
    with torch.no_grad():
        torch.testing.assert_close(loaded(poses()), model(poses()), rtol=0, atol=0)


def test_import_official_writes_a_checkpoint_that_records_its_source(tmp_path):
    model = build(TPC)
    torch.save(official_state(model), tmp_path / "tpc.pth")
    import_official(tmp_path / "tpc.pth", tmp_path / "tpc.safetensors", "tpc_mixste", keep_tokens=9, prune_layer=2)
    loaded, info = load_model(tmp_path / "tpc.safetensors")
    assert info == {"source": "tpc.pth", "source_sha256": file_sha256(tmp_path / "tpc.pth"),
                    "arch": "tpc_mixste", "fps": 50}
    with torch.no_grad():
        torch.testing.assert_close(loaded(poses()), model(poses()), rtol=0, atol=0)


def test_official_config_reads_sizes_from_shapes():
    state = official_state(build(replace(HOT, keep_tokens=7)))
    config = official_config(state, "hot_mixste", prune_layer=2)
    assert (config.dim, config.num_frames, config.keep_tokens, config.depth) == (C, T, 7, 4)
    with pytest.raises(ValueError, match="unknown arch"):
        official_config(state, "videopose")
    with pytest.raises(ValueError, match="not an official MixSTE"):
        official_config({"x": torch.zeros(1)}, "mixste")


def test_official_wrong_arch_is_a_strict_loading_error(tmp_path):
    path = tmp_path / "hot.pth"
    torch.save(official_state(build(HOT)), path)
    with pytest.raises(CheckpointError, match=r"hot\.pth: unused keys \['kept_pos', 'recovery"):
        load_official(path, "tpc_mixste", keep_tokens=9, prune_layer=2)
    with pytest.raises(CheckpointError, match=r"hot\.pth: tpc_mixste with T=27, depth=4: keep_tokens=61"):
        load_official(path, "tpc_mixste", prune_layer=2)  # the paper's 61 tokens need T >= 61


class Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"Spatial_pos_embed": torch.zeros(1, 17, C), "payload": Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="evil.pth: refused"):
        load_official(path, "mixste")
    assert not marker.exists()


# --- FLOPs ----------------------------------------------------------------------------------------

def test_flops_match_the_closed_form_including_attention():
    """MixSTE: per token 16 C^2 per block (qkv 3, proj 1, MLP 2 x 2, times 2 FLOPs per MAC) plus
    attention 4 L^2 C per sequence; embedding 4 C and head 6 C per token."""
    model = build(MIXSTE).train()
    tokens, j = T * 17, 17
    blocks = MIXSTE.depth * (2 * tokens * 16 * C * C + T * 4 * j * j * C + j * 4 * T * T * C)
    assert count_flops(model, every_frame=True) == tokens * 4 * C + blocks + tokens * 6 * C
    assert count_flops(model) == tokens * 4 * C + blocks + j * 6 * C  # what runtimes run: the target frame's head
    assert any("scaled_dot_product" in op for op in flop_breakdown(model)), "SDPA must be counted"
    assert model.training and all(p.requires_grad for p in model.parameters())  # left as found
    assert count_params(model) == sum(p.numel() for p in model.state_dict().values())


def test_pruning_cuts_flops():
    full, tpc = count_flops(build(replace(TPC, prune=None))), count_flops(build(TPC))
    assert tpc < 0.7 * full  # half the layers see a third of the frames


# --- ONNX -----------------------------------------------------------------------------------------

def test_onnx_export_matches_pytorch_in_onnx_runtime(tmp_path):
    from engines.runtime.export import export_onnx

    model = build(TPC, seed=4)
    path = tmp_path / "tpc.onnx"
    export_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x, target = poses(4, seed=6), targets([0, 0, 13, 26])
    got = session.run(["pose3d"], {"pose2d": x.numpy(), "target": target.numpy()})[0]
    with torch.no_grad():
        want = model(x, target).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
