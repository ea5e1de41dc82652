#!/usr/bin/env python
"""Subscribe to a hotstream publisher: print rate, latency and the last pose once a second.

    python tools/subscribe.py                                  # tcp://127.0.0.1:5556, stream cam0
    python tools/subscribe.py --record poses.npz --idle-timeout 5
    python tools/subscribe.py --curve-secret-key keys/alice.key_secret --curve-server-key keys/server.key

Latency is this machine's clock minus the frame's capture time, so it is exact on the same host.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from stream.client import PoseFrame, Subscriber
from stream.recorder import Recorder
from stream.shutdown import stop_on_sigterm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5556")
    parser.add_argument("--stream", default="cam0", help="stream id, or 'all' for every stream")
    parser.add_argument("--record", help="save every received message to this .npz when done "
                                         "(a replayable recording, docs/recording.md)")
    parser.add_argument("--count", type=int, help="stop after this many frames")
    parser.add_argument("--idle-timeout", type=float,
                        help="once frames have arrived, stop after this many seconds without one")
    parser.add_argument("--curve-secret-key", help="this client's CurveZMQ secret key file (tools/keys.py)")
    parser.add_argument("--curve-server-key", help="the publisher's CurveZMQ public key file")
    args = parser.parse_args(argv)
    stop_on_sigterm()

    recorder, latencies = Recorder(), []
    window_start, window_count = time.monotonic(), 0
    try:
        sub = Subscriber(args.endpoint, None if args.stream == "all" else args.stream,
                         curve_secret_key=args.curve_secret_key, curve_server_key=args.curve_server_key)
    except (ValueError, OSError) as err:
        print(f"subscribe.py: error: {err}", file=sys.stderr)
        return 2
    print(f"listening on {args.endpoint}; Ctrl-C stops", flush=True)
    try:
        while (frame := sub.receive(args.idle_timeout if latencies else None)) is not None:
            if sub.stream_id not in (None, frame.stream_id):  # topics match by prefix only
                continue
            if args.record:
                recorder.keep(frame)
            if not isinstance(frame, PoseFrame):
                continue
            latencies.append((time.time_ns() - frame.t_capture_ns) / 1e6)
            window_count += 1
            now = time.monotonic()
            if now - window_start >= 1.0:
                lat = np.percentile(latencies[-window_count:], [50, 99])
                pelvis = frame.arrays.get("root", np.full(3, np.nan))
                head = frame.pose3d[10]
                print(f"{window_count / (now - window_start):5.1f} Hz  latency p50 {lat[0]:6.1f} ms p99 {lat[1]:6.1f} ms  "
                      f"seq {frame.seq} valid {frame.valid}  root {np.round(pelvis, 2)} m  "
                      f"head_top {np.round(head, 2)} m", flush=True)
                window_start, window_count = now, 0
            if args.count is not None and len(latencies) >= args.count:
                break
    except KeyboardInterrupt:
        pass
    except PermissionError as err:  # a CurveZMQ publisher refused this client
        print(f"subscribe.py: error: {err}", file=sys.stderr)
        return 2
    finally:
        sub.close()
    print(f"received {len(latencies)} frames, lost {sub.lost} (read too slowly)", flush=True)
    if args.record:
        try:
            print(f"wrote {recorder.save(args.record)}")
        except ValueError as err:  # nothing received
            print(f"subscribe.py: error: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
