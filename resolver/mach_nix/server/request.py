"""What the resolver server accepts: the bytes of one request frame, decoded and checked.

A request frame's payload is :func:`marshal.dumps` of ``{"argv": [...], "cwd": "...",
"env": {...}}`` or ``{"control": "status"|"stop"}`` (:mod:`mach_nix.server.client`).
The daemon never hands those bytes to :func:`marshal.loads`, which is not meant for
data it did not write: five bytes can make it allocate a 2**31-slot tuple. This module
reads the subset of the marshal format that requests use, itself, bounded by the
frame (a container never claims more items than bytes remain, nesting is shallow),
and :func:`check_request` checks the shape. Both raise :class:`BadRequest`, whose
message the daemon sends back as the error of that request; it then keeps serving.

Marshal subset (format version 4, CPython 3.11+): ``N`` ``T`` ``F`` (None, True,
False), ``i`` (32-bit int), ``g`` (binary float), ``u`` ``t`` (UTF-8 str), ``a``
``A`` ``z`` ``Z`` (ASCII str), ``[`` ``(`` ``)`` (list, tuple), ``{`` … ``0`` (dict),
``r`` (a reference to an earlier object); bit 0x80 of a type code records the
object for later references.
"""

from __future__ import annotations

import os
import struct

from mach_nix.entry import FORWARDED

#: Control requests a server answers.
CONTROLS = frozenset({"status", "stop"})

#: Deepest nesting of lists and dicts a request may have (a valid one has 2).
MAX_DEPTH = 8

#: Most arguments one request may carry.
MAX_ARGUMENTS = 100_000

_FLAG_REF = 0x80
_STRINGS = {ord("u"): 4, ord("t"): 4, ord("a"): 4, ord("A"): 4, ord("z"): 1, ord("Z"): 1}


class BadRequest(Exception):
    """A frame that is not a request the server can run; the message says what is wrong."""


class _Reader:
    """A cursor over a frame's bytes, with the objects recorded for references."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.refs: list[object] = []

    def take(self, size: int) -> bytes:
        if size > len(self.data) - self.at:
            raise BadRequest("truncated request (the frame ends inside a value)")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def count(self, size: int) -> int:
        """A length of ``size`` bytes; never more than the bytes left (each item takes one)."""
        value = int.from_bytes(self.take(size), "little", signed=size == 4)
        if value < 0 or value > len(self.data) - self.at:
            raise BadRequest("malformed request (a length beyond the end of the frame)")
        return value

    def value(self, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise BadRequest("malformed request (values nested too deeply)")
        code = self.take(1)[0]
        flag, code = code & _FLAG_REF, code & ~_FLAG_REF
        if code == ord("r"):
            index = int.from_bytes(self.take(4), "little")
            if index >= len(self.refs) or self.refs[index] is None:
                raise BadRequest("malformed request (a reference to no earlier value)")
            return self.refs[index]
        slot = len(self.refs)
        if flag:
            self.refs.append(None)  # reserved now, filled once read (marshal's numbering)
        result = self._read(code, depth)
        if flag:
            self.refs[slot] = result
        return result

    def _read(self, code: int, depth: int) -> object:
        if code in _STRINGS:
            raw = self.take(self.count(_STRINGS[code]))
            try:
                return raw.decode("utf-8", "surrogatepass") if code in (ord("u"), ord("t")) else raw.decode("ascii")
            except UnicodeDecodeError:
                raise BadRequest("malformed request (a string that is not UTF-8)") from None
        if code in (ord("["), ord("("), ord(")")):
            size = self.count(1 if code == ord(")") else 4)
            items = [self.value(depth + 1) for _ in range(size)]
            return items if code == ord("[") else tuple(items)
        if code == ord("{"):
            result: dict[object, object] = {}
            while self.data[self.at : self.at + 1] != b"0":
                key = self.value(depth + 1)
                if not isinstance(key, str):
                    raise BadRequest("malformed request (a dict key that is not a string)")
                result[key] = self.value(depth + 1)
            self.take(1)
            return result
        if code == ord("i"):
            return int.from_bytes(self.take(4), "little", signed=True)
        if code == ord("g"):
            return struct.unpack("<d", self.take(8))[0]
        simple = {ord("N"): None, ord("T"): True, ord("F"): False}
        if code in simple:
            return simple[code]
        raise BadRequest(f"malformed request (marshal type {chr(code)!r} is not one a request uses)")


def decode_request(data: bytes) -> object:
    """The value a request frame's payload holds.

    Raises:
        BadRequest: not a marshalled value of the subset, or bytes after it.
    """
    if not data:
        raise BadRequest("empty request")
    reader = _Reader(data)
    value = reader.value()
    if reader.at != len(data):
        raise BadRequest(f"malformed request ({len(data) - reader.at} bytes after the value)")
    return value


def _text(value: object, what: str) -> str:
    """``value`` as a string fit for a path, an argument or the environment."""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise BadRequest(f"{what} contains a NUL character")
    try:
        os.fsencode(value)
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not encodable as a file name") from None
    return value


def check_request(value: object) -> dict:
    """``value`` if it is a request the server runs, else :class:`BadRequest` saying why.

    A control request is ``{"control": "status"|"stop"}``; a command request has exactly
    ``argv`` (strings, the first ``lock`` or ``resolve``), ``cwd`` (an absolute path) and
    ``env`` (names without ``=``, strings, no NUL anywhere).
    """
    if not isinstance(value, dict):
        raise BadRequest(f"a request is a dict, not {type(value).__name__}")
    if "control" in value:
        if set(value) != {"control"} or value["control"] not in CONTROLS:
            raise BadRequest("a control request is {'control': 'status'} or {'control': 'stop'}")
        return value
    missing = [key for key in ("argv", "cwd", "env") if key not in value]
    if missing:
        raise BadRequest(f"a request needs argv, cwd and env (missing: {', '.join(missing)})")
    if len(value) != 3:
        unknown = sorted(repr(key) for key in value if key not in ("argv", "cwd", "env"))
        raise BadRequest(f"unknown request fields: {', '.join(unknown)}")
    argv, cwd, env = value["argv"], value["cwd"], value["env"]
    if not isinstance(argv, list) or not argv or len(argv) > MAX_ARGUMENTS:
        raise BadRequest("argv must be a non-empty list of strings")
    for index, argument in enumerate(argv):
        _text(argument, f"argv[{index}]")
    if argv[0] not in FORWARDED:
        raise BadRequest(f"the server runs only {' and '.join(sorted(FORWARDED))}, not {argv[0][:100]!r}")
    if not _text(cwd, "cwd").startswith("/"):
        raise BadRequest("cwd must be an absolute path")
    if not isinstance(env, dict):
        raise BadRequest(f"env must be a dict of strings, not {type(env).__name__}")
    for name, setting in env.items():
        if not _text(name, "an env name") or "=" in name:
            raise BadRequest(f"invalid env name {str(name)[:100]!r}")
        _text(setting, f"env[{name[:100]!r}]")
    return value
