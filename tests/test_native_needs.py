"""mach_nix.native_needs: the sonames a wheel's ELF files need, read by range requests.

The ground truth is ``patchelf --print-needed`` on the extracted files (another ELF
reader). Shared objects are built here with gcc (a library, one that links it, one
whose string table patchelf moved to the end of the file, as auditwheel leaves them),
packed into wheels (deflated, stored, zip64), and served by a loopback HTTP server
that honours ``Range``; one real PyPI wheel is recorded in tests/data/wheels.
"""

from __future__ import annotations

import http.server
import json
import random
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mach_nix import native_needs
from mach_nix.cli import main
from mach_nix.native_needs import (
    NeedsCache,
    WheelLibraries,
    annotate_lock,
    http_reader,
    is_linux_native,
    read_local_wheel,
    read_wheel,
    record_needs,
)

DATA = Path(__file__).resolve().parent / "data"
MARKUPSAFE = DATA / "wheels" / "MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"

needs_gcc = pytest.mark.skipif(not shutil.which("gcc") or not shutil.which("patchelf"), reason="gcc and patchelf")


def print_needed(path: Path) -> list[str]:
    return subprocess.run(
        ["patchelf", "--print-needed", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()


@pytest.fixture(scope="module")
def elves(tmp_path_factory) -> dict[str, Path]:
    """Shared objects built with gcc: libdemo (needs libz, libm), ext (needs libdemo), moved
    (ext with a needed entry added by patchelf, which moves .dynstr past the dynamic section)."""
    if not shutil.which("gcc") or not shutil.which("patchelf"):
        pytest.skip("gcc and patchelf are needed")
    work = tmp_path_factory.mktemp("elves")
    (work / "demo.c").write_text(
        "#include <zlib.h>\n#include <math.h>\n"
        "double demo(double x) { return sqrt(x) + zlibVersion()[0]; }\n"
        # a big table of code and data, so that the dynamic section lies far into the file
        + "".join(f"int filler{i}(int x) {{ return x * {i} + {i * 7}; }}\n" for i in range(3000))
    )
    (work / "ext.c").write_text("double demo(double);\ndouble ext(double x) { return demo(x); }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            "libdemo-1a2b3c.so.1",
            "-Wl,-soname,libdemo-1a2b3c.so.1",
            "demo.c",
            "-lz",
            "-lm",
        ],
        cwd=work,
        check=True,
    )
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            "ext.cpython-311-x86_64-linux-gnu.so",
            "ext.c",
            "-L.",
            "-l:libdemo-1a2b3c.so.1",
        ],
        cwd=work,
        check=True,
    )
    moved = work / "moved.so"
    shutil.copy(work / "ext.cpython-311-x86_64-linux-gnu.so", moved)
    subprocess.run(
        ["patchelf", "--add-needed", "libGL.so.1", "--set-rpath", "$ORIGIN/../demo.libs", str(moved)], check=True
    )
    (work / "tool").write_bytes((work / "libdemo-1a2b3c.so.1").read_bytes())  # an ELF file without .so
    return {p.name: p for p in work.iterdir() if p.suffix != ".c"}


def make_wheel(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED, zip64: bool = False):
    with zipfile.ZipFile(path, "w", compression=compression) as wheel:
        for name, data in members.items():
            with wheel.open(zipfile.ZipInfo(name), "w", force_zip64=zip64) as handle:
                handle.write(data)
    return path


def demo_wheel(tmp_path: Path, elves: dict[str, Path], **options) -> Path:
    return make_wheel(
        tmp_path / "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        {
            "demo/__init__.py": b"from .ext import *\n",
            "demo/ext.cpython-311-x86_64-linux-gnu.so": elves["ext.cpython-311-x86_64-linux-gnu.so"].read_bytes(),
            "demo/moved.so": elves["moved.so"].read_bytes(),
            "demo.libs/libdemo-1a2b3c.so.1": elves["libdemo-1a2b3c.so.1"].read_bytes(),
            "demo-1.0.data/scripts/tool": elves["tool"].read_bytes(),
            "demo/big-data.bin": random.Random(0).randbytes(400_000),  # never read (but by the tail read)
            "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        },
        **options,
    )


def expected_needed(elves: dict[str, Path]) -> list[str]:
    """What patchelf says the wheel's ELF files need, minus what the wheel ships."""
    shipped = {"ext.cpython-311-x86_64-linux-gnu.so", "moved.so", "libdemo-1a2b3c.so.1"}
    needed = set()
    for name in ("ext.cpython-311-x86_64-linux-gnu.so", "moved.so", "libdemo-1a2b3c.so.1", "tool"):
        needed.update(print_needed(elves[name]))
    return sorted(needed - shipped)


@needs_gcc
@pytest.mark.parametrize(
    "options",
    [{}, {"compression": zipfile.ZIP_STORED}, {"zip64": True}],
    ids=["deflated", "stored", "zip64"],
)
def test_needed_sonames_match_patchelf(tmp_path, elves, options):
    facts = read_local_wheel(demo_wheel(tmp_path, elves, **options))
    assert facts.needed == tuple(expected_needed(elves))
    # libz and libm from libdemo, libGL from the moved table; libdemo is the wheel's own
    assert {"libz.so.1", "libm.so.6", "libGL.so.1"} <= set(facts.needed)
    assert "libdemo-1a2b3c.so.1" not in facts.needed
    assert facts.provides == ("ext.cpython-311-x86_64-linux-gnu.so", "libdemo-1a2b3c.so.1", "moved.so")
    assert facts.elf_files == 4  # the three shared objects and the script


@needs_gcc
def test_large_wheel_is_read_by_ranges_without_its_data(tmp_path, elves, monkeypatch):
    monkeypatch.setattr(native_needs, "WHOLE_BELOW", 0)
    monkeypatch.setattr(native_needs, "FIRST_CHUNK", 4096)
    wheel = demo_wheel(tmp_path, elves)
    blob = wheel.read_bytes()
    asked: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        asked.append((start, end))
        return blob[start : end + 1]

    facts = read_wheel(fetch, len(blob))
    assert facts.needed == tuple(expected_needed(elves))
    with zipfile.ZipFile(wheel) as archive:
        data = archive.getinfo("demo/big-data.bin")
        data_start = data.header_offset + 30 + len(data.filename)
        data_end = data_start + data.compress_size
    tail, *members = asked  # the first read is the zip's last 64 KiB
    assert tail[1] == len(blob) - 1
    assert not any(start < data_end and end >= data_start for start, end in members), "read the data member"
    assert facts.fetched < len(blob) - 300_000


def test_real_wheel_from_pypi(tmp_path):
    facts = read_local_wheel(MARKUPSAFE)
    with zipfile.ZipFile(MARKUPSAFE) as archive:
        archive.extract("markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so", tmp_path)
    if shutil.which("patchelf"):
        truth = print_needed(tmp_path / "markupsafe" / "_speedups.cpython-311-x86_64-linux-gnu.so")
        assert list(facts.needed) == sorted(truth)
    assert facts.needed == ("libc.so.6", "libpthread.so.0")
    assert facts.provides == ("_speedups.cpython-311-x86_64-linux-gnu.so",)


@needs_gcc
def test_malformed_elf_is_an_error_not_a_crash(tmp_path, elves):
    """A wheel's bytes are untrusted: a corrupted dynamic section gives NativeNeedsError."""
    data = bytearray(elves["libdemo-1a2b3c.so.1"].read_bytes())
    phoff = int.from_bytes(data[32:40], "little")
    for index in range(int.from_bytes(data[56:58], "little")):
        entry = phoff + index * 56
        if int.from_bytes(data[entry : entry + 4], "little") == 2:  # PT_DYNAMIC: claim 1 TiB
            data[entry + 32 : entry + 40] = (1 << 40).to_bytes(8, "little")
    wheel = make_wheel(tmp_path / "bad-1-cp311-cp311-linux_x86_64.whl", {"bad/libbad.so": bytes(data)})
    with pytest.raises(native_needs.NativeNeedsError, match="implausible dynamic section"):
        read_local_wheel(wheel)
    truncated = make_wheel(tmp_path / "cut-1-cp311-cp311-linux_x86_64.whl", {"cut/libcut.so": bytes(data[:100])})
    assert read_local_wheel(truncated).elf_files == 0  # program headers beyond the file: not an ELF we read


def test_not_a_zip_is_an_error():
    with pytest.raises(native_needs.NativeNeedsError, match="not a zip"):
        read_wheel(lambda start, end: b"\0" * (end - start + 1), 5000)


@pytest.mark.parametrize(
    ("filename", "native"),
    [
        ("torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl", True),
        ("x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("x-1-cp311-cp311-musllinux_1_2_aarch64.whl", True),
        ("x-1-cp311-cp311-linux_x86_64.whl", True),
        ("x-1-py3-none-any.whl", False),
        ("x-1-cp311-cp311-macosx_11_0_arm64.whl", False),
        ("x-1.tar.gz", False),
    ],
)
def test_linux_native_names(filename, native):
    assert is_linux_native(filename) is native


# --------------------------------------------------------------------------- the lock


def wheel_entry(name: str, deps: list[str], native: bool = True) -> dict:
    tag = "cp311-cp311-manylinux_2_17_x86_64" if native else "py3-none-any"
    return {
        "name": name,
        "version": "1.0",
        "provider": "wheel",
        "artifact": {"filename": f"{name}-1.0-{tag}.whl", "url": f"https://x/{name}.whl", "sha256": name * 4},
        "dependencies": deps,
        "extras": [],
        "root": False,
    }


def test_annotate_resolves_sonames_to_wheels_of_the_dependency_closure():
    packages = {
        "torch": wheel_entry("torch", ["nvidia-cublas", "filelock"]),
        "nvidia-cublas": wheel_entry("nvidia-cublas", ["nvidia-nvjitlink"]),
        "nvidia-nvjitlink": wheel_entry("nvidia-nvjitlink", []),
        "filelock": wheel_entry("filelock", [], native=False),
        "opencv": wheel_entry("opencv", []),
        "bystander": wheel_entry("bystander", []),
    }
    facts = {
        "torch": WheelLibraries(needed=("libc.so.6", "libcublas.so.12", "libcuda.so.1", "libnvJitLink.so.12")),
        "nvidia-cublas": WheelLibraries(needed=("libnvJitLink.so.12",), provides=("libcublas.so.12",)),
        "nvidia-nvjitlink": WheelLibraries(provides=("libnvJitLink.so.12",)),
        # opencv needs a library another wheel of the lock ships, but not one of its dependencies
        "opencv": WheelLibraries(needed=("libGL.so.1", "libnvJitLink.so.12")),
    }
    data = {"packages": packages}
    missing = annotate_lock(data, lambda artifact: facts.get(artifact["url"][len("https://x/") : -len(".whl")]))
    assert missing == ["bystander"]
    torch = packages["torch"]["artifact"]
    assert torch["needed"] == ["libc.so.6", "libcuda.so.1"]
    assert torch["needed_from"] == ["nvidia-cublas", "nvidia-nvjitlink"]  # transitively
    assert packages["nvidia-cublas"]["artifact"]["needed_from"] == ["nvidia-nvjitlink"]
    assert packages["nvidia-nvjitlink"]["artifact"] == {**packages["nvidia-nvjitlink"]["artifact"], "needed": []}
    assert packages["opencv"]["artifact"]["needed"] == ["libGL.so.1", "libnvJitLink.so.12"]
    assert "needed_from" not in packages["opencv"]["artifact"]
    assert "needed" not in packages["filelock"]["artifact"] and "needed" not in packages["bystander"]["artifact"]


def test_cache_round_trip_and_modes(tmp_path):
    cache = NeedsCache(tmp_path / "native")
    facts = WheelLibraries(needed=("libGL.so.1",), provides=("a.so",), elf_files=1)
    reads: list[str] = []

    def reader(url: str) -> WheelLibraries:
        reads.append(url)
        return facts

    def lock() -> dict:
        return {"packages": {"opencv": wheel_entry("opencv", [])}}

    data = lock()
    assert record_needs(data, "cache", cache, reader) != []  # nothing cached yet: a warning, no read
    assert reads == [] and "needed" not in data["packages"]["opencv"]["artifact"]
    data = lock()
    assert record_needs(data, "fetch", cache, reader) == []
    assert reads == ["https://x/opencv.whl"] and data["packages"]["opencv"]["artifact"]["needed"] == ["libGL.so.1"]
    data = lock()
    assert record_needs(data, "fetch", cache, reader) == []
    assert len(reads) == 1, "the second lock reads the cache"
    assert cache.get("opencv" * 4) == facts
    data = lock()
    assert record_needs(data, "off", cache, reader) == [] and "needed" not in data["packages"]["opencv"]["artifact"]
    # a read-only layer of facts (e.g. committed) answers too
    assert NeedsCache(tmp_path / "empty", [tmp_path / "native"]).get("opencv" * 4) == facts


# --------------------------------------------------------------------------- HTTP, through the CLI


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        spec = self.headers.get("Range")
        self.log.append(spec or "whole")
        if spec:
            first, _, last = spec.removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last) if last else len(body) - 1, len(body) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
            body = body[start : end + 1]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[tuple[str, type[_RangeHandler]]]:
    handler = type("Handler", (_RangeHandler,), {"files": {}, "log": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@needs_gcc
def test_http_reader_uses_range_requests(tmp_path, elves, registry, monkeypatch):
    monkeypatch.setattr(native_needs, "WHOLE_BELOW", 0)
    base, handler = registry
    handler.files["/demo.whl"] = demo_wheel(tmp_path, elves).read_bytes()
    facts = http_reader()(f"{base}/demo.whl")
    assert facts.needed == tuple(expected_needed(elves))
    assert handler.log and all(spec.startswith("bytes=") for spec in handler.log)
    with pytest.raises(native_needs.NativeNeedsError, match="404"):
        http_reader()(f"{base}/missing.whl")


def test_lock_command_records_needed(tmp_path, registry, monkeypatch):
    """`mach-nix lock` against the snapshot: the greenlet wheel's needs, read from the (fake) registry
    its URL is rewritten to, then from the cache; the golden bytes are the lock's plus the key."""
    base, handler = registry
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MACH_NIX_NATIVE_NEEDS", raising=False)
    out = tmp_path / "lock.json"
    args = ["lock", "--db", str(DATA / "pypi-db"), "greenlet==3.0.3", "--python", "3.11.7", "-o", str(out)]
    assert main([*args, "--native-needs", "off"]) == 0
    plain = json.loads(out.read_text())
    artifact = plain["packages"]["greenlet"]["artifact"]
    handler.files["/greenlet.whl"] = MARKUPSAFE.read_bytes()  # any real native wheel will do
    real_reader = native_needs.http_reader

    def reader():
        read = real_reader()
        return lambda url: read(f"{base}/greenlet.whl" if url == artifact["url"] else url)

    monkeypatch.setattr(native_needs, "http_reader", reader)
    assert main(args) == 0
    locked = json.loads(out.read_text())
    assert locked["packages"]["greenlet"]["artifact"]["needed"] == ["libc.so.6", "libpthread.so.0"]
    del locked["packages"]["greenlet"]["artifact"]["needed"]
    assert locked == plain
    requests = len(handler.log)
    assert main([*args, "--offline"]) == 0  # offline: from the cache
    assert len(handler.log) == requests
    assert json.loads(out.read_text())["packages"]["greenlet"]["artifact"]["needed"] == ["libc.so.6", "libpthread.so.0"]
