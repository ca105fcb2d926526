"""Encoding and decoding of the stored members of one project (``docs/db-format.md`` §3).

A project is stored as two members: its dependency-graph object
(:func:`encode_project`, JSON compressed with the database's preset dictionary,
trained by :func:`train_dictionary`) and its file index (:func:`encode_files`,
tab-separated lines). :func:`decode_project` gives the graph back as a
:class:`~mach_nix.db.model.Project` whose releases are decoded on first access.
:func:`file_record_problem` checks a file's record before it may reach a lock.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db.format import ZDICT_SAMPLE_MAX, ZDICT_SIZE, compress, decompress, dumps, name_hash, version_sort_key
from mach_nix.db.model import FILES_HOST, SDIST_SUFFIXES, DistFile, Failure, Metadata, Project, Release


def metadata_to_json(meta: Metadata, requires_index: int) -> dict[str, Any]:
    """Encode one :class:`Metadata` whose ``requires_dist`` is entry ``requires_index``."""
    out: dict[str, Any] = {"r": requires_index, "s": meta.source}
    if meta.requires_python is not None:
        out["p"] = meta.requires_python
    if meta.provides_extras:
        out["e"] = list(meta.provides_extras)
    if meta.build_requires is not None:
        out["b"] = list(meta.build_requires)
    return out


def encode_project(project: Project) -> dict[str, Any]:
    """Encode a :class:`Project` as the JSON object stored for it (see docs/db-format.md).

    Identical ``requires_dist`` lists and identical :class:`Metadata` records are
    stored once per project and referenced by index. Releases are sorted by
    version, files by file name, so equal projects give equal bytes.
    """
    requires: list[tuple[str, ...]] = []
    requires_ix: dict[tuple[str, ...], int] = {}
    metas: list[dict[str, Any]] = []
    metas_ix: dict[str, int] = {}
    releases = []
    stem = _common_stem(project)
    for version in sorted(project.releases, key=version_sort_key):
        release = project.releases[version]
        local: list[int] = []
        for meta in release.metadata:
            rix = requires_ix.get(meta.requires_dist)
            if rix is None:
                rix = requires_ix[meta.requires_dist] = len(requires)
                requires.append(meta.requires_dist)
            meta_json = metadata_to_json(meta, rix)
            key = dumps(meta_json)
            mix = metas_ix.get(key)
            if mix is None:
                mix = metas_ix[key] = len(metas)
                metas.append(meta_json)
            local.append(mix)
        files = [
            [_short_name(f.filename, release.version, stem), f.requires_python, f.yanked, f.metadata]
            for f in sorted(release.files, key=lambda f: f.filename)
        ]
        rel: dict[str, Any] = {"v": release.version, "f": files}
        if local:
            rel["m"] = local
        names = {f.filename for f in release.files}
        orphans = [x for x in release.failures if x.filename not in names]
        if orphans:  # failures of files not in the release (kept here; the others go with the file index)
            rel["x"] = [
                [x.filename, x.kind, x.reason] for x in sorted(orphans, key=lambda x: (x.filename, x.kind, x.reason))
            ]
        releases.append(rel)
    encoded: dict[str, Any] = {
        "name": str(canonicalize_name(project.name)),
        "serial": project.last_serial,
        "requires": [list(r) for r in requires],
        "metadata": metas,
        "releases": releases,
    }
    if stem is not None:
        encoded["stem"] = stem
    return encoded


def _split_name(filename: str, version: str) -> tuple[str, str] | None:
    """``(stem, rest)`` with ``filename == stem + "-" + version + rest`` and ``rest``
    starting with ``-`` or ``.``, or ``None``."""
    at = filename.find("-" + version)
    if at <= 0:
        return None
    rest = filename[at + 1 + len(version) :]
    if not rest or rest[0] not in "-.":
        return None
    return filename[:at], rest


def _common_stem(project: Project) -> str | None:
    """The most frequent file-name stem of a project (ties: the smallest), or ``None``."""
    counts: dict[str, int] = {}
    for release in project.releases.values():
        for f in release.files:
            split = _split_name(f.filename, release.version)
            if split is not None:
                counts[split[0]] = counts.get(split[0], 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda stem: (-counts[stem], stem))


def _short_name(filename: str, version: str, stem: str | None) -> str:
    """A file name as stored in the graph: ``rest`` when it is ``stem-version+rest``."""
    if stem is not None:
        split = _split_name(filename, version)
        if split is not None and split[0] == stem:
            return split[1]
    return filename


def encode_files(project: Project) -> str:
    """Encode the file-index part of a :class:`Project` (see docs/db-format.md §3.5).

    One line per file:
    ``filename<TAB>sha256<TAB>size<TAB>upload_time<TAB>url_path``, followed by
    ``<TAB>kind<TAB>reason`` when the file's metadata could not be obtained.
    Releases newest first (descending PEP 440 order), each release's files by
    name. Lines rather than JSON, so that a reader finds one file without
    parsing the others, and newest first, so that it usually stops
    decompressing early: locks mostly name recent releases (PyPI file names
    contain neither tabs nor newlines; in reasons they are replaced by spaces).

    Raises:
        ValueError: a file lacks its sha256, size, upload time or URL path, or
            its name contains a tab or newline.
    """
    lines = []
    for version in sorted(project.releases, key=version_sort_key, reverse=True):
        release = project.releases[version]
        failures = {x.filename: x for x in release.failures}
        for f in sorted(release.files, key=lambda f: f.filename):
            if not f.has_details or f.size is None or f.upload_time is None or f.url_path is None:
                raise ValueError(f"file {f.filename} of {project.name} lacks its file-index fields")
            if "\t" in f.filename or "\n" in f.filename:
                raise ValueError(f"file name {f.filename!r} of {project.name} contains a tab or newline")
            line = f"{f.filename}\t{f.sha256}\t{f.size}\t{f.upload_time}\t{f.url_path}"
            failure = failures.get(f.filename)
            if failure is not None:
                reason = " ".join(failure.reason.split())
                line += f"\t{failure.kind}\t{reason}"
            lines.append(line + "\n")
    return "".join(lines)


class _LazyReleases(Mapping[str, Release]):
    """A project's releases, in stored (ascending version) order, decoded on first access.

    Resolution looks at a few releases of projects that have hundreds, so a
    :class:`Release` (and its :class:`DistFile` tuples) is only built when asked for.
    """

    __slots__ = ("_raw", "_done", "_metas", "_files", "_stem")

    def __init__(
        self,
        raw: list[dict[str, Any]],
        metas: list[Metadata],
        files: Mapping[str, Sequence[Any]] | None,
        stem: str | None = None,
    ) -> None:
        self._raw = {rel["v"]: rel for rel in raw}
        self._done: dict[str, Release] = {}
        self._metas = metas
        self._files = files
        self._stem = stem

    def __getitem__(self, version: str) -> Release:
        release = self._done.get(version)
        if release is None:
            rel = self._raw[version]
            files = self._files
            failures = [Failure(*x) for x in rel.get("x", ())]
            prefix = f"{self._stem}-{version}"
            for f in rel["f"]:  # names stored short (``-py3-none-any.whl``) get their stem back
                if f[0][0] in "-.":
                    f[0] = prefix + f[0]
            if files is None:
                dists = tuple(DistFile(f[0], None, None, None, None, f[1], f[2], f[3]) for f in rel["f"])
            else:
                none = (None, None, None, None)
                dists = tuple(DistFile(f[0], *files.get(f[0], none)[:4], f[1], f[2], f[3]) for f in rel["f"])  # type: ignore[call-arg]
                for f in rel["f"]:
                    details = files.get(f[0], none)
                    if len(details) == 6:
                        failures.append(Failure(f[0], details[4], details[5]))
                failures.sort(key=lambda x: (x.filename, x.kind, x.reason))
            metas = self._metas
            release = self._done[version] = Release(
                version=version,
                files=dists,
                metadata=tuple(metas[i] for i in rel.get("m", ())),
                failures=tuple(failures),
            )
        return release

    def __contains__(self, version: object) -> bool:
        return version in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"<releases {', '.join(self._raw)}>"


def decode_project(data: Mapping[str, Any], files: Mapping[str, Sequence[Any]] | None = None) -> Project:
    """Decode the stored graph object of one project back into a :class:`Project`.

    Releases are decoded lazily (on first access to each); a malformed record
    may therefore raise ``KeyError``/``IndexError``/``TypeError`` later.

    Args:
        data: the project's dependency-graph object.
        files: the project's file index (filename -> ``[sha256, size,
            upload_time, url_path]``); without it the files' four file-index
            fields are ``None``.
    """
    requires = [tuple(r) for r in data["requires"]]
    metas = [
        Metadata(
            requires_dist=requires[m["r"]],
            requires_python=m.get("p"),
            provides_extras=tuple(m.get("e", ())),
            build_requires=tuple(m["b"]) if "b" in m else None,
            source=m["s"],
        )
        for m in data["metadata"]
    ]
    releases = _LazyReleases(data["releases"], metas, files, data.get("stem"))
    return Project(name=data["name"], releases=releases, last_serial=data["serial"])  # type: ignore[arg-type]


def decode_files(member: bytes, only: Iterable[str] | None = None) -> dict[str, tuple[Any, ...]]:
    """Decode a project's file index: filename -> ``(sha256, size, upload_time, url_path[, kind, reason])``.

    Args:
        member: the compressed member (:func:`encode_files`, :func:`compress`).
        only: decode just these file names: the member is decompressed only as
            far as the last of them, and the other lines are not split.
            Default: all.

    Raises:
        zlib.error, UnicodeDecodeError, ValueError: a corrupt member.
    """
    if only is None:
        lines = decompress(member).decode().splitlines()
    else:
        wanted = {filename.encode() for filename in only}
        lines = []
        inflater = zlib.decompressobj(-15)
        text = b"\n"  # so that every line, the first too, follows a newline
        step = 16384
        for start in range(0, len(member) + 1, step):
            text += inflater.decompress(member[start : start + step])
            if start + step >= len(member):
                text += inflater.flush()
            for filename in list(wanted):
                found = text.find(b"\n" + filename + b"\t")
                if found < 0:
                    continue
                end = text.find(b"\n", found + 1)
                if end < 0:
                    continue  # the line is not complete yet
                lines.append(text[found + 1 : end].decode())
                wanted.discard(filename)
            if not wanted:
                break
    out: dict[str, tuple[Any, ...]] = {}
    for line in lines:
        fields: list[Any] = line.split("\t")
        fields[2] = int(fields[2])
        out[fields[0]] = tuple(fields[1:])
    return out


def train_dictionary(graphs: Mapping[str, bytes]) -> bytes:
    """The preset DEFLATE dictionary of a database's graph members.

    Most projects are small, and a small member compresses badly on its own:
    its JSON keys, file-name tails (``-py3-none-any.whl``) and common
    dependency strings are new to it. A dictionary holding such text lets
    every member refer to it. It is taken from the data itself,
    deterministically: the encoded graphs of small projects (at most
    :data:`ZDICT_SAMPLE_MAX` bytes), in the order of the sha256 of their
    names, concatenated up to :data:`ZDICT_SIZE` bytes (the end of a DEFLATE
    dictionary is the cheapest to refer to, so the list is reversed to put the
    first-hashed projects last).

    Args:
        graphs: normalised name -> encoded (uncompressed) graph JSON.
    """
    chosen: list[bytes] = []
    size = 0
    for name in sorted(graphs, key=name_hash):
        data = graphs[name]
        if len(data) > ZDICT_SAMPLE_MAX:
            continue
        chosen.append(data)
        size += len(data)
        if size >= ZDICT_SIZE:
            break
    return b"".join(reversed(chosen))[-ZDICT_SIZE:]


def project_bytes(project: Project, zdict: bytes = b"") -> tuple[bytes, bytes]:
    """The compressed members stored for ``project``: (dependency graph, file index)."""
    return (compress(dumps(encode_project(project)).encode(), zdict), compress(encode_files(project).encode()))


#: A download URL's path after :data:`~mach_nix.db.model.FILES_HOST`, as PyPI makes them:
#: ``xx/yy/<60 hex>`` (the blake2b-256 of the file, split), then ``/<filename>``.
URL_PATH = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}")
#: A file name that is one plain path component: no separator, no ``..``, no space or quote.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def names_project(project: str, filename: str) -> bool:
    """Whether ``filename`` is a file name of ``project``: some prefix of it before a ``-``
    normalises to the project's name (``Foo_Bar-1.0.tar.gz`` is one of ``foo-bar``), as pip decides."""
    norm = canonicalize_name(project)
    at = filename.find("-")
    while at > 0:
        if canonicalize_name(filename[:at]) == norm:
            return True
        at = filename.find("-", at + 1)
    return False


def file_record_problem(project: str, dist: DistFile) -> str | None:
    """What is wrong with the record of one file of ``project`` for a lock, or ``None``.

    A lock points Nix at ``https://files.pythonhosted.org/packages/<url_path>/<filename>`` with
    the record's sha256: the URL path must be PyPI's ``xx/yy/<60 hex>`` (no ``..``, no other
    host, no query), the file name one plain path component that is a wheel or sdist name of
    ``project``, the sha256 64 lowercase hex digits and the size a count of bytes. The database
    is trusted for what it says about dependencies, not for where a lock downloads from.
    """
    filename = dist.filename
    if not _PLAIN_NAME.fullmatch(filename) or ".." in filename:
        return f"file name {filename!r} is not a plain file name"
    if not filename.endswith((".whl", *SDIST_SUFFIXES)):
        return f"file name {filename!r} is neither a wheel nor an sdist"
    if not names_project(project, filename):
        return f"file name {filename!r} is not a file name of {canonicalize_name(project)}"
    if not isinstance(dist.url_path, str) or not URL_PATH.fullmatch(dist.url_path):
        return f"the URL of {filename} is not a {FILES_HOST} URL ({dist.url_path!r} after it)"
    if not isinstance(dist.sha256, str) or not _SHA256.fullmatch(dist.sha256):
        return f"the sha256 of {filename} is not 64 hex digits ({dist.sha256!r})"
    if not isinstance(dist.size, int) or isinstance(dist.size, bool) or dist.size < 0:
        return f"the size of {filename} is not a number of bytes ({dist.size!r})"
    return None
