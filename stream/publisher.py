"""ZeroMQ publisher that never lets a slow, dead or late subscriber stall the pipeline.

An XPUB socket (a PUB that also sees subscriptions, so each new subscriber gets the stream
description at once) with a send high-water mark per subscriber. Sends are non-blocking. When
one subscriber's queue is full, libzmq drops the message *for that subscriber only*; the others
still get it. Measured with 20 subscribers on loopback, one of them never reading, 12,000
messages: each of the 19 others got all 12,000, the stalled one the 4,498 that fit in its queues
and TCP buffers (``tests/test_robust_publisher.py``). The alternative, ``XPUB_NODROP``, makes the
socket refuse a send when any queue is full, so the drop could be counted here. But then one
stalled subscriber makes *every* send fail: in the same run the socket refused 7,501 of the
12,000 sends, and the 19 healthy subscribers got only 4,499 messages each. Fairness wins.
libzmq does not say which subscriber lost what, so the loss is counted where it happens: every
pose header carries ``pub_seq`` (poses sent on this stream: 0, 1, 2, ...), and a subscriber
counts the gaps (``stream.client.Subscriber.lost``). ``dropped`` here counts the sends the
socket refused outright (none are expected with this socket type).

Security: the endpoint must be on this machine (loopback, ipc, inproc) unless ``allow_remote``
is given; then it warns unless CurveZMQ is on. With ``curve_secret_key`` the socket is a
CurveZMQ server (encrypted) and a ``zmq.auth.ThreadAuthenticator`` admits only clients whose
public key is in ``curve_allowed_clients`` (a directory of key files, as ``zmq.auth`` writes them).
"""
from __future__ import annotations

import ipaddress
import logging
import time
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from stream import wire

log = logging.getLogger(__name__)
# On close, how long messages still queued may take to leave: enough for the last description
# (``source_state: ended``) to reach subscribers, bounded so a dead one cannot hold the exit.
CLOSE_LINGER_MS = 500


TRANSPORTS = ("tcp", "ipc", "inproc")
ENDPOINT_FORMS = "tcp://HOST:PORT, ipc://PATH or inproc://NAME"


def endpoint_problem(endpoint: str, bind: bool) -> str | None:
    """What is wrong with a ZeroMQ endpoint (to ``bind``, or else to connect to), or None.

    Checked before ZeroMQ sees it: libzmq's own errors ("Protocol not supported") do not say
    which part is wrong, and it takes an out-of-range port as "any port".
    """
    scheme, sep, rest = endpoint.partition("://")
    if not sep:
        hint = f"; write tcp://{endpoint}" if ":" in endpoint else ""
        return f"{endpoint!r} has no transport (expected {ENDPOINT_FORMS}){hint}"
    if scheme not in TRANSPORTS:
        return f"{endpoint!r}: unknown transport {scheme!r} (expected {ENDPOINT_FORMS})"
    if scheme != "tcp":
        return None if rest else f"{endpoint!r} names no {'path' if scheme == 'ipc' else 'name'}"
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        return f"{endpoint!r} needs a host and a port: tcp://HOST:PORT"
    if port == "*":
        return None if bind else f"{endpoint!r}: port '*' (any free port) is for binding; connect to a number"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{endpoint!r}: port {port!r} is not a number from 1 to 65535" + (" (or '*' for any)" if bind else "")
    return None


def is_local_endpoint(endpoint: str) -> bool:
    """Whether a ZeroMQ bind endpoint is reachable from this machine only."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name, a host name
        return False


def load_key(path: str | Path, secret: bool) -> tuple[bytes, bytes | None]:
    """(public, secret) key from a ``zmq.auth`` key file; ``secret`` demands the secret half."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: key file not found")
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(f"{path}: not a ZeroMQ key file ({err})") from None
    if secret and secret_key is None:
        raise ValueError(f"{path}: holds no secret key (use the .key_secret file that tools/keys.py wrote)")
    return public, secret_key


def _check_allow_list(folder: Path) -> None:
    if not folder.exists():
        raise FileNotFoundError(f"publisher.curve_allowed_clients {folder}: folder not found")
    if not folder.is_dir():
        raise ValueError(f"publisher.curve_allowed_clients {folder}: a file, not a folder of public key files")
    if not any(folder.glob("*.key")):
        raise ValueError(f"publisher.curve_allowed_clients {folder}: no public key files (*.key) in the folder; "
                         "no client could connect")


class Publisher:
    def __init__(self, endpoint: str, stream_id: str, send_hwm: int = 30, meta_interval_s: float = 1.0,
                 context: zmq.Context | None = None, allow_remote: bool = False,
                 curve_secret_key: str | Path | None = None, curve_allowed_clients: str | Path | None = None) -> None:
        if (problem := endpoint_problem(endpoint, bind=True)) is not None:
            raise ValueError(f"publisher.endpoint {problem}")
        if not is_local_endpoint(endpoint) and not allow_remote:
            raise ValueError(f"publisher.endpoint {endpoint!r} is reachable from other machines; "
                             "set publisher.allow_remote: true to mean it")
        if (curve_secret_key is None) != (curve_allowed_clients is None):
            raise ValueError("CurveZMQ needs both publisher.curve_secret_key and publisher.curve_allowed_clients")
        self.stream_id, self.meta_interval_s = stream_id, meta_interval_s
        self.auth: ThreadAuthenticator | None = None
        self._own_context = None
        if curve_secret_key is not None:
            public, secret = load_key(curve_secret_key, secret=True)
            _check_allow_list(Path(curve_allowed_clients))
            # The authenticator serves every socket of its context: give it a context of its own.
            context = self._own_context = zmq.Context()
            self.auth = ThreadAuthenticator(context)
            self.auth.start()
            self.auth.configure_curve(domain="*", location=str(curve_allowed_clients))
            log.info("CurveZMQ on: encrypted; clients admitted by the %d public keys in %s",
                     len(list(Path(curve_allowed_clients).glob("*.key"))), curve_allowed_clients)
        elif not is_local_endpoint(endpoint):
            log.warning("publishing on %s to any machine that connects, unencrypted and unauthenticated; "
                        "set publisher.curve_secret_key and publisher.curve_allowed_clients", endpoint)
        self.socket = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, send_hwm)
        self.socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # hear every subscription, not just the first per topic
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve_secret_key is not None:
            self.socket.curve_secretkey, self.socket.curve_publickey = secret, public
            self.socket.curve_server = True
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as err:
            self.close()
            raise ValueError(f"cannot bind publisher.endpoint {endpoint!r}: {err}") from None
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.description: dict = {}
        self.sent = self.dropped = self.meta_sent = self.meta_dropped = self.subscriptions = 0
        self._next_meta_ns = 0

    @property
    def next_pub_seq(self) -> int:
        """``pub_seq`` of the next pose message: every pose send so far, refused ones included."""
        return self.sent + self.dropped

    def _send(self, parts: list[bytes]) -> bool:
        try:
            self.socket.send_multipart(parts, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def send(self, parts: list[bytes]) -> bool:
        """Send a pose message without blocking; False (and counted) when the socket refused it."""
        ok = self._send(parts)
        self.sent += ok
        self.dropped += not ok
        return ok

    def send_meta(self) -> list[bytes]:
        """Send the stream description now; returns the message (sent or, counted, refused)."""
        parts = wire.encode_meta(self.stream_id, {**self.description, "t_publish_ns": time.time_ns()})
        ok = self._send(parts)
        self.meta_sent += ok
        self.meta_dropped += not ok
        self._next_meta_ns = time.monotonic_ns() + int(self.meta_interval_s * 1e9)
        return parts

    def service(self) -> float:
        """Answer new subscriptions and send the periodic description.

        Returns the seconds until the next description is due, for the caller's wait.
        """
        while True:
            try:
                event = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if event[:1] == b"\x01":
                self.subscriptions += 1
                self._next_meta_ns = 0
        if time.monotonic_ns() >= self._next_meta_ns:
            self.send_meta()
        return max(0.0, (self._next_meta_ns - time.monotonic_ns()) / 1e9)

    def wait_for_subscriber(self, timeout_s: float) -> bool:
        """Block until someone subscribes (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self.subscriptions == 0 and (left := deadline - time.monotonic()) > 0:
            if self.socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                self.service()
        return self.subscriptions > 0

    def close(self) -> None:
        self.socket.close(linger=CLOSE_LINGER_MS)
        if self.auth is not None:
            self.auth.stop()
        if self._own_context is not None:
            self._own_context.term()
