"""VMC over OSC/UDP (python-osc), the protocol VTuber and animation tools listen for: VSeeFace,
VirtualMotionCapture, Warudo, Unity with EVMC4U, Blender with VMC4B (docs/outputs.md).

Per valid pose, as one OSC bundle (or one datagram per message with ``bundle: false``):

* ``/VMC/Ext/Root/Pos "root" px py pz qx qy qz qw``: the avatar's root, at the origin, unturned;
* ``/VMC/Ext/Bone/Pos <bone> px py pz qx qy qz qw`` for each of :data:`engines.humanoid.BONES`
  (Unity humanoid names): its position and rotation relative to its parent bone;
* ``/VMC/Ext/OK 1`` (a model is loaded and tracked) and ``/VMC/Ext/T <seconds since the first pose>``.

Rotations and positions are :func:`engines.humanoid.solve`'s, in Unity's left-handed Y-up frame
(:func:`engines.humanoid.to_unity`); ``Hips`` carries the pelvis position (from the camera when
the root is on, else the origin). A frame without a pose sends ``/VMC/Ext/OK 0``. Where the OS
reports that a datagram was refused (an ICMP "port unreachable" on some systems; not for this
unconnected socket on Linux) or the send buffer is full, it is counted as ``undelivered``, not
as an error, and sending goes on.

VMC drives one avatar. Of several people it follows the first it gets, and moves on to another
only once that one has sent nothing for :data:`SWITCH_AFTER_S`; the poses of the others are
left out (counted as ``other_people``).
"""
from __future__ import annotations

import socket
import struct

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import UDPClient

from engines import humanoid
from stream.sinks import ros_messages
from stream.sinks.base import Output


def _message(address: str, *args) -> OscMessage:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def _osc_string(text: str) -> bytes:
    """An OSC string: the bytes, a NUL, padded with NULs to a multiple of four."""
    data = text.encode() + b"\0"
    return data + b"\0" * (-len(data) % 4)


# One bone message is the address, the type tags and the bone name (fixed per bone), then seven
# big-endian float32s: the fixed part is encoded once, the floats with one struct call per bone.
_BONE_HEADS = {bone: _osc_string("/VMC/Ext/Bone/Pos") + _osc_string(",sfffffff") + _osc_string(bone)
               for bone in humanoid.BONES}
_SEVEN_FLOATS = struct.Struct(">7f")
SWITCH_AFTER_S = 0.5  # the avatar's person unseen this long (capture time): follow someone else


class VmcSink:
    name = "vmc"

    def __init__(self, settings, stream_id: str) -> None:
        try:
            self.client = UDPClient(settings.host, settings.port)
        except (OSError, socket.gaierror) as err:
            raise ValueError(f"VMC address {settings.host}:{settings.port} does not resolve: {err}") from None
        self.bundle = settings.bundle
        self.t0_ns = None
        self.undelivered = self.other_people = 0
        self.person: int | None = None  # whom the avatar follows, and when they were last seen
        self.person_seen_ns = 0

    def messages(self, out: Output) -> list:
        """The OSC messages of one pose (see the module docstring)."""
        pose = out.pose
        if self.t0_ns is None:
            self.t0_ns = pose.t_capture_ns
        clock = _message("/VMC/Ext/T", float((pose.t_capture_ns - self.t0_ns) / 1e9))
        if not pose.valid:
            return [_message("/VMC/Ext/OK", 0), clock]
        canonical = ros_messages.positions(pose) * humanoid.CAMERA_TO_HUMANOID
        solved = humanoid.solve(canonical[None])
        offsets, quats = humanoid.to_unity(solved.offsets[0], solved.local_quaternions()[0])
        messages = [_message("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)]
        for bone, values in zip(humanoid.BONES, np.concatenate([offsets, quats], axis=1).tolist()):
            messages.append(OscMessage(_BONE_HEADS[bone] + _SEVEN_FLOATS.pack(*values)))
        return messages + [_message("/VMC/Ext/OK", 1), clock]

    def _follows(self, out: Output) -> bool:
        """Whether ``out`` is of the avatar's person (taking the next one on when they are gone)."""
        person, t_ns = out.pose.header.get("person"), out.pose.t_capture_ns
        if self.person is not None and person != self.person and t_ns - self.person_seen_ns < SWITCH_AFTER_S * 1e9:
            self.other_people += 1
            return False
        self.person, self.person_seen_ns = person, t_ns
        return True

    def send(self, out: Output) -> None:
        if not self._follows(out):
            return
        messages = self.messages(out)
        if self.bundle:
            builder = OscBundleBuilder(IMMEDIATELY)
            for m in messages:
                builder.add_content(m)
            messages = [builder.build()]
        for content in messages:
            try:
                self.client.send(content)
            except (ConnectionRefusedError, BlockingIOError):  # nobody listening yet, or the send buffer full
                self.undelivered += 1

    def counts(self) -> dict:
        return {"undelivered": self.undelivered, "other_people": self.other_people}

    def close(self) -> None:
        self.client.close()
