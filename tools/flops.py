"""Print a markdown table of parameters and FLOPs (torch FlopCounterMode, engines/flops.py) for
every preset's size: full-length MixSTE, HoT (TPC + TRA, seq2seq) and TPC (seq2frame) per HoT
size, and each other architecture's preset as it is.

    hotstream-flops [--preset NAME ...]
"""
from __future__ import annotations

import argparse
import sys

from engines.flops import flops_table
from engines.models import all_presets


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    presets = all_presets()
    p.add_argument("--preset", nargs="*", choices=list(presets), default=list(presets))
    a = p.parse_args(argv)
    print(flops_table({name: presets[name] for name in a.preset}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
