"""``--set section.key=value``: the one override syntax of every command-line tool.

A value is a YAML scalar or flow collection (``5``, ``true``, ``null``, ``[0.004, 0.012]``,
``tpc``), so the same text works on ``run_stream.py`` (config.yaml's sections) and on
``tools/train.py`` (``model.``, ``augmentation.`` and ``noise.`` fields).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"lifter.lookahead=5"`` -> (["lifter", "lookahead"], 5)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {text!r} is not of the form section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"override {text!r}: value is not valid YAML ({err.problem})") from None
    return key.strip().split("."), value


def set_path(tree: dict, path: list[str], value: Any) -> None:
    """``tree[path[0]][path[1]]... = value``, making sections on the way."""
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"setting {'.'.join(path)!r}: {part!r} is not a section")
        node = child
    node[path[-1]] = value


def nested_overrides(texts: Iterable[str]) -> dict:
    """Every ``section.key=value`` as one nested dict (a later one wins)."""
    tree: dict = {}
    for text in texts:
        set_path(tree, *parse_override(text))
    return tree
