"""Lifter architectures (:mod:`engines.models.registry`): HoT (``hot``) and a VideoPose3D-style
causal temporal convolution (``tcn``).

>>> config = get_preset("live-cpu")
>>> model = create_model(config)          # arch_of(config) == "hot"
"""
from engines.models import hot, tcn  # noqa: F401  (each registers itself)
from engines.models.registry import (ARCHITECTURES, DEFAULT_ARCH, all_presets, arch_of, architecture,
                                     config_from_dict, create_model, get_preset, preset_name)

__all__ = ["ARCHITECTURES", "DEFAULT_ARCH", "all_presets", "arch_of", "architecture", "config_from_dict",
           "create_model", "get_preset", "preset_name"]
