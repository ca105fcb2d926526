"""Client side of the resolver server: where its socket is, and how a command is handed over.

Kept to the standard library modules an interpreter has loaded anyway (plus
``_socket``): this runs before every ``lock``/``resolve``.

**Address.** One server per user and per mach-nix code: the socket is
``<runtime dir>/server-<hash of key>.sock``, where the runtime directory is
``$XDG_RUNTIME_DIR/mach-nix`` or else ``/tmp/mach-nix-<uid>`` (created with
mode 0700; a directory owned by someone else, or open to others, is never
used), and ``<key>`` (:func:`code_key`) is a hash of the version, the package's
location, the interpreter's version and the path, size and modification time of
every ``.py`` file of the package, found by walking its directory tree. Editing,
adding, removing a module or upgrading mach-nix therefore changes the address:
a server never answers with old code.

**Protocol.** One request per connection, each way a 4-byte big-endian length
and a :mod:`marshal`-encoded dict (the address includes the interpreter's
version, so both ends always agree on the encoding; ``marshal`` and
``_socket`` cost no imports). Request: ``{"argv": [...], "cwd": "...", "env":
{...}}`` or ``{"control": "status"|"stop"}``. Response: ``{"stdout": "...",
"stderr": "...", "code": N}``. The server decodes requests with its own strict reader
(:mod:`mach_nix.server.request`), never with ``marshal.loads``.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib

from mach_nix import __version__

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (a few ms at every hand-over).
TYPE_CHECKING = False

if TYPE_CHECKING:
    import _socket

#: The ``mach_nix`` package directory (this file is ``mach_nix/server/client.py``).
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

#: Default idle time before the server exits, in seconds.
DEFAULT_IDLE = 1800


def runtime_dir(create: bool = False) -> str | None:
    """The private directory of the server's socket, or ``None`` if it is not safe to use.

    Args:
        create: create it (mode 0700) if missing.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "mach-nix") if base else f"/tmp/mach-nix-{os.getuid()}"
    try:
        if create:
            os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except FileNotFoundError:
        return path  # nothing there yet: no server either
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path


def code_files(root: str | None = None) -> list[tuple[str, int, int]]:
    """Every ``.py`` file of the package under ``root`` (default :data:`PACKAGE_DIR`):
    ``(path relative to root, modification time in ns, size)``, sorted."""
    root = PACKAGE_DIR if root is None else root
    found: list[tuple[str, int, int]] = []
    pending = [""]
    while pending:
        sub = pending.pop()
        try:
            with os.scandir(os.path.join(root, sub)) as entries:
                for entry in entries:
                    relative = os.path.join(sub, entry.name)
                    if entry.name.endswith(".py"):
                        info = entry.stat()
                        found.append((relative, info.st_mtime_ns, info.st_size))
                    elif entry.name != "__pycache__" and entry.is_dir():
                        pending.append(relative)
        except OSError:
            continue
    found.sort()
    return found


def code_key() -> str:
    """A short key that changes with mach-nix's version, location and source files
    (:func:`code_files`), and with the interpreter's version."""
    location = zlib.crc32(f"{PACKAGE_DIR}{sys.version}".encode())
    files = zlib.crc32(repr(code_files()).encode())
    return f"{__version__}-{location:08x}-{files:08x}"


def short_name(key: str) -> str:
    """A socket file name for ``key`` (Unix socket paths are limited to ~100 bytes)."""
    data = key.encode()
    return f"server-{zlib.crc32(data):08x}{zlib.adler32(data):08x}.sock"


def socket_path(create: bool = False) -> str | None:
    """The server's socket for this user and this mach-nix code (``None``: no safe place)."""
    directory = runtime_dir(create)
    if directory is None:
        return None
    return os.path.join(directory, short_name(code_key()))


def unsafe_directory_message() -> str:
    """The error when :func:`socket_path` finds no private place for the socket."""
    return (
        "no private directory for the server's socket: $XDG_RUNTIME_DIR/mach-nix or "
        f"/tmp/mach-nix-{os.getuid()} exists but belongs to someone else or is open to others"
    )


def send(path: str, request: dict, timeout: float | None = None) -> dict:
    """Send one request to the server at ``path``; return its response.

    Raises:
        OSError: no server listens there (or it died mid-request).
    """
    sock = _connect(path, timeout)
    try:
        write_frame(sock, request)
        return marshal.loads(read_frame(sock))
    finally:
        sock.close()


def _connect(path: str, timeout: float | None) -> _socket.socket:
    """A socket connected to ``path``. Without a timeout, connecting waits while the server's
    listen queue is full; with one, a full queue fails at once (EAGAIN), so it is retried
    until the timeout is up."""
    import _socket

    deadline = None
    while True:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except BlockingIOError:
            sock.close()
            import time

            deadline = deadline or time.monotonic() + (timeout or 0)
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
        except BaseException:
            sock.close()
            raise


def write_frame(sock: _socket.socket, value: dict) -> None:
    """Send one length-prefixed :mod:`marshal` frame."""
    data = marshal.dumps(value)
    sock.sendall(len(data).to_bytes(4, "big") + data)


def read_frame(sock: _socket.socket) -> bytes:
    """Read one length-prefixed frame from a socket.

    Raises:
        ConnectionError: the peer closed the connection early.
    """
    header = _read_exactly(sock, 4)
    return _read_exactly(sock, int.from_bytes(header, "big"))


def _read_exactly(sock: _socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("the mach-nix server closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def forward(argv: list[str]) -> int | None:
    """Run ``mach-nix ARGV`` in the server if one is running; return its exit code.

    Returns ``None`` (run it here instead) when no server listens for this code.
    """
    directory = runtime_dir()
    if directory is None or not os.path.isdir(directory):
        return None  # no server ever started: skip hashing the code
    path = os.path.join(directory, short_name(code_key()))
    if not os.path.exists(path):
        return None
    try:
        response = send(path, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)})
    except OSError:
        return None
    sys.stdout.write(response["stdout"])
    sys.stderr.write(response["stderr"])
    sys.stdout.flush()
    return int(response["code"])
