"""Metadata extraction paths: core metadata, wheel range reads, sdists, the confined PEP 517 hook."""

from __future__ import annotations

import io
import os
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from mach_nix.db.extract import (
    ExtractError,
    build_system,
    parse_core_metadata,
    pkg_info_is_reliable,
    read_sdist,
    read_sdist_stream,
    wheel_metadata,
)
from mach_nix.db.pep517 import HookLimits, HookRunner
from mach_nix.db.scope import dependency_possible, file_in_scope
from mach_nix.requirements import parse_dependency

METADATA = """\
Metadata-Version: 2.1
Name: demo
Version: 1.0
Requires-Python: >=3.8
Requires-Dist: six>=1.0
Requires-Dist: pysocks; extra == "socks"
Provides-Extra: Socks

Long description.
"""


def make_wheel(metadata: str = METADATA, padding: int = 0, metadata_first: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as whl:
        if metadata_first:
            whl.writestr("demo-1.0.dist-info/METADATA", metadata)
        whl.writestr("demo/__init__.py", "x = 1\n#" + os.urandom(padding).hex())
        for i in range(50):
            whl.writestr(f"demo/data/file{i}.txt", os.urandom(2000).hex())
        if not metadata_first:
            whl.writestr("demo-1.0.dist-info/METADATA", metadata)
        whl.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        whl.writestr("demo-1.0.dist-info/RECORD", "")
    return buf.getvalue()


def make_sdist(files: dict[str, str], top: str = "demo-1.0") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in sorted(files.items()):
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_parse_core_metadata() -> None:
    meta, version, dynamic = parse_core_metadata(METADATA, "wheel")
    assert meta.requires_dist == ("six>=1.0", 'pysocks; extra == "socks"')
    assert meta.requires_python == ">=3.8"
    assert meta.provides_extras == ("socks",)
    assert version == "2.1" and dynamic == set()
    assert not pkg_info_is_reliable("2.1", set())
    assert pkg_info_is_reliable("2.2", {"summary"})
    assert not pkg_info_is_reliable("2.4", {"requires-dist"})


def test_wheel_range_read_uses_few_requests() -> None:
    data = make_wheel(padding=200_000)
    calls: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        calls.append((start, end))
        return data[start : end + 1]

    meta = wheel_metadata(fetch, len(data))
    assert meta.requires_dist[0] == "six>=1.0" and meta.source == "wheel"
    assert len(calls) == 1  # METADATA lies in the fetched tail
    calls.clear()
    data = make_wheel(padding=200_000, metadata_first=True)
    assert wheel_metadata(fetch, len(data)).requires_python == ">=3.8"
    assert len(calls) == 2  # tail, then the METADATA member
    assert sum(e - s + 1 for s, e in calls) < len(data) / 2


def test_wheel_without_metadata() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as whl:
        whl.writestr("demo/__init__.py", "")
    data = buf.getvalue()
    with pytest.raises(ExtractError) as info:
        wheel_metadata(lambda s, e: data[s : e + 1], len(data))
    assert info.value.kind == "no-metadata"


def test_sdist_build_requirements() -> None:
    sdist = make_sdist(
        {
            "PKG-INFO": "Metadata-Version: 2.2\nName: demo\nVersion: 1.0\nRequires-Dist: attrs\n",
            "pyproject.toml": '[build-system]\nrequires = ["hatchling>=1.0"]\nbuild-backend = "hatchling.build"\n',
            "setup.cfg": "[options]\nsetup_requires =\n    setuptools_scm\n",
        }
    )
    contents = read_sdist("demo-1.0.tar.gz", sdist)
    requires, backend, _ = build_system(contents)
    assert requires == ("hatchling>=1.0", "setuptools_scm")
    assert backend == "hatchling.build"
    legacy = read_sdist(
        "demo-1.0.tar.gz",
        make_sdist({"setup.py": "from setuptools import setup\nsetup(name='demo', setup_requires=['cffi>=1.0'])\n"}),
    )
    assert build_system(legacy)[0] == ("setuptools>=40.8.0", "cffi>=1.0")
    # streaming read stops at an unreliable PKG-INFO
    old = make_sdist({"PKG-INFO": "Metadata-Version: 1.1\nName: demo\n", "setup.py": "x"})
    assert read_sdist_stream(io.BytesIO(old), lambda info: b"1.1" in info) is None


def test_platform_scope() -> None:
    assert file_in_scope("demo-1.0.tar.gz")
    assert file_in_scope("demo-1.0-py3-none-any.whl")
    assert file_in_scope("demo-1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl")
    assert file_in_scope("demo-1.0-cp311-cp311-musllinux_1_1_x86_64.whl")
    assert file_in_scope("demo-1.0-cp311-cp311-macosx_10_9_universal2.whl")
    assert file_in_scope("demo-1.0-cp311-cp311-macosx_11_0_arm64.whl")
    assert not file_in_scope("demo-1.0-cp311-cp311-win_amd64.whl")
    assert not file_in_scope("demo-1.0-cp311-cp311-manylinux_2_17_i686.whl")
    assert not file_in_scope("demo-1.0-cp311-cp311-manylinux_2_17_ppc64le.whl")
    assert not file_in_scope("demo-1.0-py2.7.egg")
    # binary wheels only for Pythons older than 3.8 are left out; pure wheels are always kept
    assert not file_in_scope("demo-1.0-cp27-cp27mu-manylinux1_x86_64.whl")
    assert not file_in_scope("demo-1.0-cp37-cp37m-manylinux1_x86_64.whl")
    assert file_in_scope("demo-1.0-cp36-abi3-manylinux1_x86_64.whl")
    assert file_in_scope("demo-1.0-pp39-pypy39_pp73-manylinux_2_17_x86_64.whl")
    assert file_in_scope("demo-1.0-py2-none-any.whl")
    assert file_in_scope("demo-1.0-cp27.cp38-cp27mu.cp38-manylinux1_x86_64.whl")


def test_markers_for_every_target() -> None:
    def possible(text: str, extras: tuple[str, ...] = ()) -> bool:
        req = parse_dependency(text)
        assert req is not None
        return dependency_possible(req, extras)

    assert possible("a; python_version < '3.9'")
    assert possible("a; sys_platform == 'darwin' and platform_machine == 'arm64'")
    assert not possible("a; sys_platform == 'win32'")
    assert not possible("a; python_version < '3'")
    assert not possible("a; extra == 'socks'")
    assert possible("a; extra == 'socks'", ("Socks",))


BACKEND = """
import os, sys, time
def _meta(outdir):
    d = os.path.join(outdir, "demo-1.0.dist-info")
    os.makedirs(d)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\nRequires-Dist: attrs>=20\\n")
    return "demo-1.0.dist-info"
def prepare_metadata_for_build_wheel(outdir, config_settings=None):
    mode = open("mode.txt").read().strip()
    if mode == "loop":
        while True:
            pass
    if mode == "sleep":
        time.sleep(60)
    if mode == "memory":
        x = bytearray(4 * 1024**3)
    if mode == "escape":
        open(os.environ["ESCAPE_TARGET"], "w").write("escaped")
    if mode == "network":
        import socket
        socket.create_connection(("pypi.org", 443), timeout=5)
    if mode == "env":
        assert "SECRET_TOKEN" not in os.environ, "environment leaked"
    return _meta(outdir)
"""


def hook_sdist(mode: str) -> bytes:
    return make_sdist(
        {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
            "backend.py": BACKEND,
            "mode.txt": mode,
        }
    )


@pytest.fixture(scope="module")
def runner():
    with HookRunner(HookLimits(timeout=4, memory_bytes=1024**3)) as hook_runner:
        yield hook_runner


def test_hook_success(runner: HookRunner) -> None:
    meta = runner.metadata("demo-1.0.tar.gz", hook_sdist("ok"))
    assert meta.requires_dist == ("attrs>=20",) and meta.source == "pep517"
    assert meta.build_requires == ()


@pytest.mark.parametrize("mode,kind", [("loop", "timeout"), ("sleep", "timeout"), ("memory", "memory")])
def test_hook_limits(runner: HookRunner, mode: str, kind: str) -> None:
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", hook_sdist(mode))
    assert info.value.kind == kind, info.value.reason


def test_hook_confinement(runner: HookRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "x")
    runner.metadata("demo-1.0.tar.gz", hook_sdist("env"))  # the environment is not passed on
    # a file the crawler's user can write: the hook cannot (it does not even see the directory)
    target = tmp_path / "escaped.txt"
    tmp_path.chmod(0o777)
    sdist = make_sdist(
        {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
            "backend.py": BACKEND.replace('os.environ["ESCAPE_TARGET"]', repr(str(target))),
            "mode.txt": "escape",
        }
    )
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", sdist)
    assert info.value.kind == "hook-error" and "No such file or directory" in info.value.reason
    assert not target.exists()
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", hook_sdist("network"))
    assert info.value.kind == "hook-error"
    assert "name resolution" in info.value.reason or "unreachable" in info.value.reason, info.value.reason


@pytest.mark.parametrize("native_filter", [True, False])
def test_unpack_keeps_sdists_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native_filter: bool) -> None:
    """PEP 706's data filter, or the same rules where Python lacks it (Debian 12's 3.11.2)."""
    if not native_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter")
    top = HookRunner._unpack("demo-1.0.tar.gz", make_sdist({"setup.py": "print(1)\n"}), tmp_path / "ok")
    assert (top / "setup.py").read_text() == "print(1)\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("demo-1.0/../../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ExtractError) as error:
        HookRunner._unpack("demo-1.0.tar.gz", buf.getvalue(), tmp_path / "bad")
    assert error.value.kind == "invalid"
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.network
def test_real_wheel_and_sdists() -> None:
    from mach_nix.db.crawl import Crawler, CrawlOptions
    from mach_nix.db.http import Client

    client = Client()
    page = client.simple_project("six")
    assert page is not None
    files = {f["filename"]: f for f in page["files"]}
    wheel = files["six-1.16.0-py2.py3-none-any.whl"]
    meta = wheel_metadata(lambda s, e: client.range(wheel["url"], s, e), wheel["size"])
    assert meta.requires_python == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"

    crawler = Crawler("unused-db-dir", CrawlOptions(hooks="no-wheel", hook_timeout=60))
    grouped = crawler.group_files(page)
    sdist, info = next(item for item in grouped["1.0.0"] if item[0].filename == "six-1.0.0.tar.gz")
    hooked, fail = crawler.extract_now(sdist, info, release_has_wheels=False)  # sdist-only: the hook runs
    assert fail is None and hooked is not None and hooked.source == "pep517"
    assert hooked.build_requires == ("setuptools>=40.8.0",)


@pytest.mark.network
def test_real_pkg_info_2_2() -> None:
    """A recent hatchling-built sdist has Metadata-Version >= 2.2: PKG-INFO is used, no hook."""
    from mach_nix.db.crawl import Crawler, CrawlOptions
    from mach_nix.db.http import Client

    client = Client()
    page = client.simple_project("hatchling")
    assert page is not None
    crawler = Crawler("unused-db-dir", CrawlOptions(hooks="never"))
    grouped = crawler.group_files(page)
    newest = max(grouped, key=lambda v: __import__("packaging.version").version.Version(v))
    sdist, info = next(item for item in grouped[newest] if not item[0].is_wheel)
    meta, fail = crawler.extract_now(sdist, info, release_has_wheels=True)
    assert fail is None and meta is not None, fail
    assert meta.source == "pkg-info"
    assert any(r.startswith("packaging") for r in meta.requires_dist)
