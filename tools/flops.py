"""Print a markdown table of parameters and FLOPs (torch FlopCounterMode) for every preset's size:
full-length MixSTE, HoT (TPC + TRA, seq2seq) and TPC (seq2frame).

    .venv/bin/python tools/flops.py [--preset NAME ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.flops import flops_table  # noqa: E402
from engines.presets import PRESETS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", nargs="*", choices=list(PRESETS), default=list(PRESETS))
    a = p.parse_args()
    print(flops_table({name: PRESETS[name] for name in a.preset}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
