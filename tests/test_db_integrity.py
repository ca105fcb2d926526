"""A damaged or tampered database is refused, never read as something else (issue 15, item 4).

The database under test is a real one: the snapshot's ``requests[socks]`` closure,
written by the writer. Each test damages it in one way (a flipped bit in a ``.dat``
or an ``.idx``, a truncated or missing file, a manifest field of the wrong type, a
URL or file name that does not belong on a lock) and locks against it in-process
through the command line. The lock either succeeds with the undamaged lock's bytes
(the damage is in something the lock does not read), or exits 6 with a message that
names the damaged file and says what to do; never a traceback, never a wrong lock.
A property-based test (hypothesis) flips random bytes anywhere in the database.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mach_nix.cli import main
from mach_nix.commands import inputs
from mach_nix.db import format as db_format
from mach_nix.db import store
from mach_nix.db.model import DistFile, Project, Release
from mach_nix.errors import ExitCode
from nixhelpers import REPO

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"
CLOSURE = ["certifi", "charset-normalizer", "idna", "pysocks", "requests", "urllib3", "chardet", "brotli"]
ROOTS = ["requests[socks]"]


def _materialised(project: Project) -> Project:
    return Project(project.name, dict(project.releases), project.last_serial)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small database, written once per module (tests damage copies of it)."""
    root = tmp_path_factory.mktemp("pristine") / "db"
    snapshot = store.open_database(SNAPSHOT)
    projects = [_materialised(p) for p in (snapshot.project(n, details=True) for n in CLOSURE) if p is not None]
    store.write_database(root, projects, crawl_time="2024-01-01T00:00:00Z")
    return root


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    yield
    inputs._OPENED.clear()  # the databases of one test are not another's


class Locker:
    """Locks ``requests[socks]`` in-process against a database; knows the undamaged answer."""

    def __init__(self, pristine: Path, capsys: pytest.CaptureFixture[str], work: Path) -> None:
        self.capsys = capsys
        self.work = work
        self.runs = 0
        code, err, lock = self.lock(pristine)
        assert code == 0 and lock is not None, err
        self.expected = lock

    def lock(self, db: Path, *extra: str) -> tuple[int, str, bytes | None]:
        self.runs += 1
        out = self.work / f"lock-{self.runs}.json"
        self.capsys.readouterr()
        code = main(["lock", "--db", str(db), "--offline", "-o", str(out), *extra, *ROOTS])
        err = self.capsys.readouterr().err
        return code, err, out.read_bytes() if out.exists() else None

    def refused(self, db: Path, named: str | Path) -> str:
        """Lock against ``db``: assert exit 6 naming ``named``, no traceback, no lock written; the message."""
        code, err, lock = self.lock(db)
        assert "Traceback" not in err, err
        assert code == ExitCode.DATABASE, (code, err)
        assert str(named) in err, err
        assert lock is None
        return err

    def right_or_refused(self, db: Path) -> str:
        """The property: the undamaged lock, or exit 6 naming a file of ``db``; ``"ok"`` or the message."""
        code, err, lock = self.lock(db)
        assert "Traceback" not in err, err
        if code == 0:
            assert lock == self.expected, "a damaged database gave another lock"
            return "ok"
        assert code == ExitCode.DATABASE, (code, err)
        assert str(db) in err, err
        assert lock is None
        return err


@pytest.fixture
def locker(pristine: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Locker:
    return Locker(pristine, capsys, tmp_path)


@pytest.fixture
def db(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the small database, to damage."""
    copy = tmp_path / "db"
    shutil.copytree(pristine, copy)
    return copy


def generation(db: Path) -> Path:
    return db / store.read_manifest(db)["shards_dir"]


def graph_shard(db: Path, name: str, suffix: str) -> Path:
    return generation(db) / f"{db_format.shard_of(name, store.read_manifest(db)['shard_prefix_length'])}.{suffix}"


def files_shard(db: Path, name: str, suffix: str) -> Path:
    key = db_format.shard_of(name, store.read_manifest(db)["files_prefix_length"])
    return generation(db) / db_format.FILES_DIR / f"{key}.{suffix}"


def flip(file: Path, offset: int, mask: int = 0x01) -> None:
    """XOR one byte of ``file`` with ``mask`` (into a new file: it may be a hard link)."""
    data = bytearray(file.read_bytes())
    data[offset] ^= mask
    file.unlink()
    file.write_bytes(bytes(data))


FIX = "mach-nix db crawl"  # the fix every damage message gives (with re-downloading)


# -- shard files ---------------------------------------------------------------


@pytest.mark.parametrize("fraction", [i / 10 for i in range(11)])
def test_a_bit_flip_in_the_file_index_is_refused(db: Path, locker: Locker, fraction: float) -> None:
    """Eleven positions across the file-index shard of requests (most of them in no checksum's reach before)."""
    dat = files_shard(db, "requests", "dat")
    flip(dat, min(int(dat.stat().st_size * fraction), dat.stat().st_size - 1))
    err = locker.refused(db, dat)
    assert "sha256" in err and FIX in err


@pytest.mark.parametrize("part", ["graph", "files"])
def test_a_bit_flip_in_an_index_is_refused(db: Path, locker: Locker, part: str) -> None:
    idx = graph_shard(db, "requests", "idx") if part == "graph" else files_shard(db, "requests", "idx")
    text = idx.read_bytes()
    flip(idx, text.index(b"requests") + 3)  # "reqtests": the name no longer found
    locker.refused(db, idx)


@pytest.mark.parametrize("part", ["graph", "files"])
def test_a_truncated_shard_is_refused(db: Path, locker: Locker, part: str) -> None:
    dat = graph_shard(db, "requests", "dat") if part == "graph" else files_shard(db, "requests", "dat")
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    locker.refused(db, dat)


@pytest.mark.parametrize(
    "which",
    ["graph.idx", "graph.dat", "files.idx", "files.dat", db_format.SHARDS_TABLE, db_format.ZDICT_FILE, "generation"],
)
def test_a_missing_file_is_refused(db: Path, locker: Locker, which: str) -> None:
    """Not "no project named requests" (a missing .idx read as an empty shard), not "graph-only"."""
    if which == "generation":
        missing = generation(db)
        shutil.rmtree(missing)
    else:
        part, _, suffix = which.partition(".")
        if part in ("graph", "files") and suffix in ("idx", "dat"):
            missing = (graph_shard if part == "graph" else files_shard)(db, "requests", suffix)
        else:
            missing = generation(db) / which
        missing.unlink()
    err = locker.refused(db, missing.name)
    assert "holds only the dependency graph" not in err and "no project named" not in err


def test_a_damaged_cached_file_index_shard_is_refused(pristine: Path, locker: Locker, tmp_path: Path) -> None:
    """A graph-only database's shards come from the cache, named by their sha256: checked on use too."""
    slim = tmp_path / "slim"
    assert main(["db", "slim", "--db", str(pristine), "--out", str(slim), "--files-url", pristine.as_uri()]) == 0
    code, err, lock = locker.lock(slim, "--files-cache", str(tmp_path / "nowhere"))
    assert code == ExitCode.DATABASE and "is not cached" in err  # offline: nothing fetched
    assert main(["lock", "--db", str(slim), "-o", str(tmp_path / "fetched.json"), *ROOTS]) == 0  # fetches
    assert (tmp_path / "fetched.json").read_bytes() == locker.expected
    inputs._OPENED.clear()
    cached = tmp_path / "cache" / "files"
    entry = max(cached.iterdir(), key=lambda p: p.stat().st_size)
    flip(entry, entry.stat().st_size // 2)
    assert locker.refused(slim, entry)


# -- the manifest ----------------------------------------------------------------

WRONG_FIELDS: list[tuple[str, object]] = [
    ("shard_prefix_length", "1"),
    ("shard_prefix_length", 0),
    ("shard_prefix_length", 3),
    ("shard_prefix_length", True),
    ("files_prefix_length", 7),
    ("files_prefix_length", None),
    ("shards_dir", 5),
    ("shards_dir", "../../etc"),
    ("shards_dir", "shards-0000000000000000"),
    ("shards_sha256", 7),
    ("shards_sha256", "z" * 64),
    ("graph_zdict_sha256", ["x"]),
    ("counts", []),
    ("counts", {"projects": "many"}),
    ("bytes", "x"),
    ("shard_counts", {"graph": "x", "files": 1}),
    ("failures_by_kind", 3),
    ("crawl", []),
    ("crawl", {"roots": "requests"}),
    ("crawl_time", 5),
    ("files_url", 5),
    ("format_version", "2"),
]


@pytest.mark.parametrize(("field", "value"), WRONG_FIELDS, ids=[f"{f}={v!r}" for f, v in WRONG_FIELDS])
def test_a_manifest_field_of_the_wrong_type_is_refused(
    db: Path, locker: Locker, capsys: pytest.CaptureFixture[str], field: str, value: object
) -> None:
    manifest_file = db / db_format.MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest[field] = value
    manifest_file.write_text(json.dumps(manifest))
    err = locker.refused(db, manifest_file)
    assert field in err or field.replace("_", " ") in err
    # db info reads more of the manifest than a lock: refused the same way, no traceback
    capsys.readouterr()
    assert main(["db", "info", "--db", str(db)]) == ExitCode.DATABASE
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(manifest_file) in err


@pytest.mark.parametrize("field", ["shard_prefix_length", "counts", "shard_counts", "crawl"])
def test_a_missing_manifest_field_is_refused(db: Path, locker: Locker, field: str) -> None:
    manifest_file = db / db_format.MANIFEST
    manifest = json.loads(manifest_file.read_text())
    del manifest[field]
    manifest_file.write_text(json.dumps(manifest))
    locker.refused(db, manifest_file)


# -- what a lock is given --------------------------------------------------------


def _tampered(pristine: Path, target: Path, change: Callable[[DistFile], DistFile]) -> Path:
    """A consistent database (hashes re-pinned by the writer) whose requests files were changed."""
    projects = []
    for project in store.open_database(pristine).layers[0].projects(details=True):
        releases = dict(project.releases)
        if project.name == "requests":
            releases = {
                v: Release(r.version, tuple(change(f) for f in r.files), r.metadata, r.failures)
                for v, r in releases.items()
            }
        projects.append(Project(project.name, releases, project.last_serial))
    store.write_database(target, projects, crawl_time="2024-01-01T00:00:00Z")
    return target


TAMPERED: dict[str, Callable[[DistFile], DistFile]] = {
    "url-dotdot": lambda f: f._replace(url_path="../../../etc"),
    "url-dotdot-inside": lambda f: f._replace(url_path=f"{f.url_path}/../../../../etc"),
    "url-other-host": lambda f: f._replace(url_path="@evil.example.org"),
    "url-query": lambda f: f._replace(url_path=f"{f.url_path}?x=1"),
    "filename-dotdot": lambda f: f._replace(filename=f"../../{f.filename}"),
    "filename-other-project": lambda f: f._replace(filename=f.filename.replace("requests", "evil", 1)),
    "sha256-not-hex": lambda f: f._replace(sha256="g" * 64),
}


@pytest.mark.parametrize("how", list(TAMPERED))
def test_a_tampered_url_or_file_name_never_reaches_a_lock(
    pristine: Path, locker: Locker, tmp_path: Path, how: str
) -> None:
    db = _tampered(pristine, tmp_path / "tampered", TAMPERED[how])
    err = locker.refused(db, db)
    assert "requests" in err


@pytest.mark.parametrize(
    ("project", "filename", "url_path", "problem"),
    [
        ("foo-bar", "Foo_Bar-1.0-py3-none-any.whl", "ab/cd/" + "e" * 60, None),
        ("zope-interface", "zope.interface-5.0.tar.gz", "ab/cd/" + "e" * 60, None),
        ("aiohttp", "aiohttp-2.0.6-1.tar.gz", "ab/cd/" + "e" * 60, None),  # real, 2017
        ("pydantic", "pydantic-0.18-py36+-none-any.whl", "ab/cd/" + "e" * 60, None),  # real, 2019
        ("regex", "regex-2013-08-04.tar.gz", "ab/cd/" + "e" * 60, None),  # real
        ("foo", "foo-1.0.tar.gz.sh", "ab/cd/" + "e" * 60, "neither a wheel nor an sdist"),
        ("foo", "foo-1.0.egg", "ab/cd/" + "e" * 60, "neither a wheel nor an sdist"),
        ("foo", "foo bar-1.0.tar.gz", "ab/cd/" + "e" * 60, "not a plain file name"),
        ("foo", "foo-1.0/../x.tar.gz", "ab/cd/" + "e" * 60, "not a plain file name"),
        ("foo", ".foo-1.0.tar.gz", "ab/cd/" + "e" * 60, "not a plain file name"),
        ("foo", "foobar-1.0.tar.gz", "ab/cd/" + "e" * 60, "not a file name of foo"),
        ("foo-bar", "foo-1.0.tar.gz", "ab/cd/" + "e" * 60, "not a file name of foo-bar"),
        ("foo", "foo-1.0.tar.gz", "ab/cd/" + "E" * 60, "https://files.pythonhosted.org/packages/"),
        ("foo", "foo-1.0.tar.gz", "ab/cd/" + "e" * 59, "https://files.pythonhosted.org/packages/"),
        ("foo", "foo-1.0.tar.gz", "ab/cd/../../" + "e" * 54, "https://files.pythonhosted.org/packages/"),
        ("foo", "foo-1.0.tar.gz", None, "https://files.pythonhosted.org/packages/"),
    ],
)
def test_file_record_checks(project: str, filename: str, url_path: str | None, problem: str | None) -> None:
    from mach_nix.db.codec import file_record_problem

    dist = DistFile(filename, "a" * 64, 10, "2020-01-01T00:00:00Z", url_path)
    got = file_record_problem(project, dist)
    assert (got is None) if problem is None else (got is not None and problem in got), got
    if problem is None:
        assert file_record_problem(project, dist._replace(sha256="A" * 64)) is not None
        assert file_record_problem(project, dist._replace(size=-1)) is not None


def test_the_snapshot_passes_every_check() -> None:
    """Every file of the real snapshot has a URL and name that the checks accept (no false alarm),
    but one: path.py's 2012 sdist ``path-2.2.zip``, whose name is not path.py's (pip does not
    install it either: it skips a file whose name is not the project's)."""
    from mach_nix.db.codec import file_record_problem

    layer = store.open_database(SNAPSHOT).layers[0]
    checked = 0
    refused = set()
    for project in layer.projects(details=True):
        for release in project.releases.values():
            for dist in release.files:
                if file_record_problem(project.name, dist) is not None:
                    refused.add((project.name, dist.filename))
                checked += 1
    assert checked == layer.manifest["counts"]["files"]
    assert refused == {("path-py", "path-2.2.zip")}


# -- random damage ----------------------------------------------------------------


_EXAMPLES = itertools.count()


def _blamed(message: str, db: Path) -> str:
    """The kind of file an exit-6 message blames (for hypothesis' statistics)."""
    found = re.search(r"is damaged: '([^']*)'", message)
    if found is None:
        return message.split(": ")[2][:30] if message.count(": ") >= 2 else message[:30]
    name = Path(found.group(1)).name
    return name if "." not in name or name.endswith(".json") else "*." + name.rsplit(".", 1)[1]


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_damage_gives_the_right_lock_or_exit_6(
    pristine: Path, locker: Locker, tmp_path: Path, data: st.DataObject
) -> None:
    """Flip 1–3 random bytes of random files (the manifest, shards.json, the dictionary, the shards):
    the lock is the undamaged one, or exit 6 naming a file; never a traceback, never another lock."""
    copy = tmp_path / f"random-{next(_EXAMPLES)}"
    shutil.copytree(pristine, copy, copy_function=os.link)  # flip() breaks the link of what it changes
    try:
        files = _files(copy)
        for _ in range(data.draw(st.integers(1, 3), label="flips")):
            file = data.draw(st.sampled_from(files), label="file")
            offset = data.draw(st.integers(0, file.stat().st_size - 1), label="offset")
            flip(file, offset, data.draw(st.integers(1, 255), label="mask"))
        outcome = locker.right_or_refused(copy)
        event("the undamaged lock" if outcome == "ok" else "exit 6: " + _blamed(outcome, copy))
    finally:
        shutil.rmtree(copy)
        inputs._OPENED.clear()


def test_verification_is_once_per_layer(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard file is hashed on its first use by a layer (a process, the server), not on every lookup."""
    from mach_nix.db import reader

    hashed: list[int] = []
    real = reader._digest

    def counting(data: bytes) -> str:
        hashed.append(len(data))
        return real(data)

    monkeypatch.setattr(reader, "_digest", counting)
    database = store.open_database(db)
    assert database.project("requests") is not None
    first = len(hashed)
    assert first >= 3  # the dictionary, the graph shard's .idx and .dat
    database._cache.clear()
    assert database.project("requests") is not None
    assert len(hashed) == first
