"""Convert the authors' released HoT/MixSTE weights (.pth) to a hotstream safetensors checkpoint.

    hotstream-import-weights hot_mixste.pth weights/hot-mixste-243.safetensors --arch hot_mixste

The file is read with ``torch.load(weights_only=True)`` (no code runs) and loaded strictly. Sizes
(C, T, depth, HoT's kept tokens) come from the tensor shapes; the kept-token count of TPC models
and the pruning layer are not stored in the file, so give them if the model was not trained with
the paper's values (hot_mixste: layer 3; tpc_mixste: 61 tokens, layer 7).
"""
from __future__ import annotations

import argparse
import json
import sys

from engines.checkpoint import CheckpointError, import_official
from engines.flops import count_params
from engines.models.hot import OFFICIAL_VARIANTS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("official", help="the authors' .pth state_dict")
    p.add_argument("out", help="output .safetensors checkpoint")
    p.add_argument("--arch", required=True, choices=OFFICIAL_VARIANTS)
    p.add_argument("--keep-tokens", type=int, help="frames kept by TPC (tpc_mixste; default 61)")
    p.add_argument("--prune-layer", type=int, help="layer before which tokens are pruned (default 3 or 7)")
    a = p.parse_args(argv)
    try:
        model, info = import_official(a.official, a.out, a.arch, a.keep_tokens, a.prune_layer)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    params = count_params(model)
    print(f"wrote {a.out}: {a.arch}, {params / 1e6:.2f} M parameters, config {json.dumps(model.config.to_dict())}")
    print(f"source {info['source']} sha256 {info['source_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
