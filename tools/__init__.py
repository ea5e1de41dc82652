"""Thin command-line tools: each parses its arguments and calls one library function (console
scripts ``hotstream-*`` in pyproject.toml; ``python tools/<name>.py`` works as well)."""
