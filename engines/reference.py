"""A multi-view 3D reference of one person, as built by ``stream.multiview.build_reference``.

It holds what a real-video evaluation needs per camera: the calibrated cameras, the person's
H36M-17 joints and 33 landmarks triangulated in world metres, and each view's own BlazePose
output (2D landmarks, visibilities and MediaPipe's world landmarks, as detected, label swaps
included), with the reprojection errors and the swaps the triangulation repaired.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.calibration import Camera
from engines.skeleton import MP, bone_lengths

# Bones whose length a frame of the reference must keep: thighs, shins, upper arms, forearms.
_LIMB_BONES = (1, 2, 4, 5, 11, 12, 14, 15)

SWAPS = ("body", "arms", "legs")  # the label swaps repaired, numbered from 1 in ``Reference.swaps``


@dataclass
class Reference:
    """A multi-view reference; arrays are per view (V), frame (N) and landmark or joint."""

    cameras: list[Camera]
    fps: float
    pose3d: np.ndarray  # (N, 17, 3) world metres, H36M-17; NaN where not triangulated
    landmarks3d: np.ndarray  # (N, 33, 3) world metres
    pixels: np.ndarray  # (V, N, 33, 2) each view's BlazePose landmarks (video mode), as detected
    visibility: np.ndarray  # (V, N, 33)
    world: np.ndarray  # (V, N, 33, 3) each view's MediaPipe world landmarks; NaN where none
    error_px: np.ndarray  # (V, N, 33) reprojection error after repair and rejection
    swaps: np.ndarray  # (V, N) repaired swap: 0 none, 1 body, 2 arms, 3 legs
    searched: np.ndarray  # (V, N) the video-mode tracker had lost the person and it was searched for

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path, fps=np.float64(self.fps), pose3d=self.pose3d, landmarks3d=self.landmarks3d,
            pixels=self.pixels, visibility=self.visibility, world=self.world, error_px=self.error_px,
            swaps=self.swaps, searched=self.searched, camera_names=np.array([c.name for c in self.cameras]),
            camera_size=np.array([c.size for c in self.cameras]), camera_K=np.stack([c.K for c in self.cameras]),
            camera_dist=np.stack([c.dist for c in self.cameras]), camera_R=np.stack([c.R for c in self.cameras]),
            camera_t=np.stack([c.t for c in self.cameras]))

    @classmethod
    def load(cls, path: str | Path) -> Reference:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"reference file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                cameras = [Camera(str(n), tuple(s), K, d, R, t) for n, s, K, d, R, t in zip(
                    z["camera_names"], z["camera_size"], z["camera_K"], z["camera_dist"], z["camera_R"],
                    z["camera_t"])]
                return cls(cameras, float(z["fps"]), z["pose3d"], z["landmarks3d"], z["pixels"],
                           z["visibility"], z["world"], z["error_px"], z["swaps"], z["searched"])
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path}: not a multi-view reference ({e})") from None


def plausible_frames(ref: Reference, tolerance: float = 0.2) -> np.ndarray:
    """(N,) bool: the reference is complete and each limb bone is within ``tolerance`` of its
    median length over the capture. Where BlazePose fails in several views at once (fast kicks),
    triangulation gives limbs of the wrong length; such frames cannot judge anything."""
    lengths = bone_lengths(ref.pose3d)[:, _LIMB_BONES]
    with np.errstate(invalid="ignore"):
        deviation = np.abs(lengths / np.nanmedian(lengths, axis=0) - 1).max(-1)
        return np.isfinite(ref.pose3d).all((1, 2)) & (deviation <= tolerance)


def error_report(ref: Reference) -> dict:
    """Reprojection error (median and 90th percentile, px) per view and landmark, swaps repaired,
    and the fraction of frames with a complete H36M-17 reference."""
    names = sorted(MP, key=MP.get)
    views = {}
    for v, cam in enumerate(ref.cameras):
        err = ref.error_px[v]
        with np.errstate(all="ignore"):
            views[cam.name] = {
                "median_px": float(np.nanmedian(err)), "p90_px": float(np.nanpercentile(err, 90)),
                "used_fraction": float(np.isfinite(err).mean()),
                "frames_detected": int((ref.visibility[v].max(-1) > 0).sum()),
                "frames_searched": int(ref.searched[v].sum()),
                "swaps_repaired": {p: int((ref.swaps[v] == k + 1).sum()) for k, p in enumerate(SWAPS)},
                "per_landmark_median_px": {n: round(float(np.nanmedian(err[:, MP[n]])), 2) for n in names},
            }
    complete = np.isfinite(ref.pose3d).all((1, 2))
    return {"frames": int(len(ref.pose3d)), "complete_frames": int(complete.sum()),
            "plausible_frames": int(plausible_frames(ref).sum()), "fps": ref.fps, "views": views}
