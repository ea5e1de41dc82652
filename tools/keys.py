#!/usr/bin/env python
"""Generate CurveZMQ key pairs for the publisher and its clients (zmq.auth.create_certificates).

    python tools/keys.py keys/ server            # keys/server.key (public) + keys/server.key_secret
    python tools/keys.py keys/ alice bob         # one pair per client
    mkdir -p keys/allowed && cp keys/alice.key keys/allowed/   # the publisher's allow-list

Give the publisher ``publisher.curve_secret_key: keys/server.key_secret`` and
``publisher.curve_allowed_clients: keys/allowed``; give each client its own ``.key_secret`` and
the server's ``server.key``. Secret key files are readable by their owner only.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import zmq.auth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write the key files (created if missing)")
    parser.add_argument("names", nargs="+", help="one key pair per name: NAME.key and NAME.key_secret")
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")
    args = parser.parse_args(argv)
    try:
        args.folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"keys.py: error: cannot make the key folder {args.folder}: {err.strerror}", file=sys.stderr)
        return 2
    for name in args.names:
        existing = [p for p in (args.folder / f"{name}.key", args.folder / f"{name}.key_secret") if p.exists()]
        if existing and not args.force:
            print(f"keys.py: error: {existing[0]}: exists (use --force to overwrite)", file=sys.stderr)
            return 2
        old_umask = os.umask(0o077)  # the secret key is never readable by others, not even briefly
        try:
            public, secret = zmq.auth.create_certificates(args.folder, name)
        except OSError as err:
            print(f"keys.py: error: cannot write keys in {args.folder}: {err.strerror}", file=sys.stderr)
            return 2
        finally:
            os.umask(old_umask)
        os.chmod(public, 0o644)
        print(f"wrote {public} and {secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
