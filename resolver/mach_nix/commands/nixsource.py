"""What the Nix files written by ``mach-nix env`` and ``mach-nix gen`` import: mach-nix and nixpkgs.

**The Nix library.** The tree a Nix expression imports as mach-nix is ``default.nix``,
``VERSION``, ``lib/*.nix``, ``overrides/*.nix`` and the resolver's package under
``resolver/mach_nix/`` (for evaluation-time resolution). The CLI finds it next to its own
code (:func:`library_root`): in a checkout (an editable install) at the checkout's root; in
an installed wheel in the package data ``mach_nix/nix/`` (in the checkout, links to those
files; ``pyproject.toml`` ships them). :func:`library_files` lists the tree; the release
tarball (:func:`write_tarball`, published at :data:`RELEASE_URL`) holds exactly these files.

**Pins** (``--mach-nix``, :func:`mach_nix_source`):

* default: this CLI's own library, pinned by the NAR hash of that tree, as
  ``builtins.fetchTarball { name; url = RELEASE_URL; sha256; }``. The CLI adds the tree to
  the Nix store under that very fixed-output path, so the file evaluates on this machine at
  once (Nix finds the path and fetches nothing, even offline) and anywhere else from the
  URL once the release is published;
* ``https://…`` / ``file://…`` tarball URL: ``fetchTarball`` with the hash
  ``nix-prefetch-url --unpack`` computes;
* ``git+URL`` or ``git+URL#REV``: ``builtins.fetchGit { url; rev; }`` (REV, else the
  repository's HEAD);
* a directory: a checkout imported by a relative path (not pinned: for working on mach-nix).

nixpkgs (``--pkgs``, :func:`nixpkgs_expr`): a tarball URL (pinned the same way), a
directory (a relative import), any other text a Nix expression of the package set; by
default ``<nixpkgs>``, with a ``mach-nix:`` error naming the fixes when there is none.

Generated files hold no absolute path of the machine: paths are relative to the file that
names them, and pins are URLs with hashes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mach_nix import __version__
from mach_nix.errors import UsageError
from mach_nix.progress import Progress

#: The repository mach-nix is published from: the one place that names it. Until it is
#: public this is a placeholder; the flake template (``examples/flake-template/flake.nix``)
#: repeats it literally (a flake input must be a literal; ``tests/test_gen.py`` checks it).
REPOSITORY = "mach-nix/mach-nix"
#: The flake reference of :data:`REPOSITORY`.
FLAKE_REF = f"github:{REPOSITORY}"
#: Where the release tarball of a version is published (:func:`write_tarball` makes it).
RELEASE_URL = "https://github.com/" + REPOSITORY + "/releases/download/{version}/mach-nix-{version}.tar.gz"

#: The files of the Nix library, relative to the library's root (a checkout, or ``mach_nix/nix``).
#: ``pyproject.toml``'s package-data ships the same globs.
LIBRARY_GLOBS = ("default.nix", "VERSION", "lib/*.nix", "overrides/*.nix")


def source_checkout() -> Path | None:
    """The mach-nix checkout this package runs from, when it is one (an editable install)."""
    candidate = Path(__file__).resolve().parents[3]
    if (candidate / "default.nix").is_file() and (candidate / "lib" / "mkPython.nix").is_file():
        return candidate
    return None


def package_dir() -> Path:
    """The directory of the ``mach_nix`` package this CLI runs."""
    return Path(__file__).resolve().parents[1]


def library_root() -> Path:
    """The directory holding this CLI's Nix library (:data:`LIBRARY_GLOBS`)."""
    checkout = source_checkout()
    if checkout is not None:
        return checkout
    shipped = package_dir() / "nix"
    if (shipped / "default.nix").is_file() and (shipped / "lib" / "mkPython.nix").is_file():
        return shipped
    raise UsageError(
        f"this installation of mach-nix has no Nix library ({shipped} is missing): reinstall it "
        "(`pip install mach-nix`), or pass --mach-nix URL|PATH"
    )


def library_files(root: Path | None = None, package: Path | None = None) -> list[tuple[str, Path]]:
    """The published tree: (path in the tree, file), sorted. The resolver's package is taken
    from ``package`` (default: this one), without caches and without its ``nix/`` links."""
    root = root or library_root()
    package = package or package_dir()
    files: dict[str, Path] = {}
    for pattern in LIBRARY_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if relative.parts[0] == "nix" or "__pycache__" in relative.parts or not path.is_file():
            continue
        if path.suffix in (".py", ".typed"):
            files["resolver/mach_nix/" + relative.as_posix()] = path
    if "default.nix" not in files or "lib/mkPython.nix" not in files:
        raise UsageError(f"{root} is not a mach-nix library (no default.nix and lib/mkPython.nix)")
    return sorted(files.items())


def tree_name(version: str = __version__) -> str:
    """The store name of the library of a version (also the tarball's top directory)."""
    return f"mach-nix-{version}"


def stage(destination: Path, files: Sequence[tuple[str, Path]]) -> None:
    """Copy the tree into ``destination`` (created), plain files of mode 644."""
    for relative, source in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o644)


def write_tarball(out: Path, files: Sequence[tuple[str, Path]] | None = None) -> None:
    """Write the release tarball: the tree under ``mach-nix-VERSION/``, deterministic bytes."""
    files = files if files is not None else library_files()
    top = tree_name()
    directories = {top}
    for relative, _ in files:
        parent = Path(top, relative).parent
        while parent != Path("."):
            directories.add(parent.as_posix())
            parent = parent.parent
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(directories):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for relative, source in files:
            data = source.read_bytes()
            info = tarfile.TarInfo(f"{top}/{relative}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    out.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))


def _nix(command: list[str], what: str) -> str:
    """Run a Nix tool; its stdout, or a UsageError saying what failed."""
    if shutil.which(command[0]) is None:
        raise UsageError(f"{what} needs Nix's `{command[0]}` on PATH: install Nix, or pass --mach-nix URL|PATH")
    with Progress() as line:
        line.update(what + " …", force=True)
        proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"{what} failed: {' '.join(command)}:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def nix_string(value: str) -> str:
    """A Nix string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def nix_path(target: Path, base: Path) -> str:
    """A Nix path expression for ``target``, relative to the directory ``base`` (no absolute path)."""
    relative = os.path.relpath(os.path.abspath(target), os.path.abspath(base))
    literal = "./." if relative == "." else (relative + "/." if relative == ".." else relative)
    if not literal.startswith((".", "/")):
        literal = "./" + literal
    if re.fullmatch(r"[A-Za-z0-9._+/-]+", literal) and not literal.endswith("/"):
        return literal
    return f"(./. + {nix_string('/' + relative)})"


@dataclass(frozen=True)
class Pin:
    """A source as a Nix expression of its store path, and the store path it has here (if known)."""

    expr: str
    store_path: str | None = None


def _prefetch(url: str, name: str) -> str:
    """The fetchTarball sha256 of a tarball URL (it is also added to the store under ``name``)."""
    output = _nix(["nix-prefetch-url", "--unpack", "--type", "sha256", "--name", name, url], f"fetching {url}")
    return output.splitlines()[-1]


def _fetch_tarball(name: str, url: str, sha256: str) -> str:
    """``builtins.fetchTarball { … }``, laid out for a line indented by two spaces."""
    items = (("name", name), ("url", url), ("sha256", sha256))
    fields = "".join(f"    {key} = {nix_string(value)};\n" for key, value in items)
    return "builtins.fetchTarball {\n" + fields + "  }"


def own_library() -> Pin:
    """This CLI's library, added to the store and pinned by the release URL and its hash."""
    files = library_files()
    name = tree_name()
    with tempfile.TemporaryDirectory(prefix="mach-nix-library-") as tmp:
        tree = Path(tmp) / name
        stage(tree, files)
        store_path = _nix(
            ["nix-store", "--add-fixed", "--recursive", "sha256", str(tree)], "pinning mach-nix's Nix library"
        ).splitlines()[-1]
    digest = _nix(["nix-store", "--query", "--hash", store_path], "hashing mach-nix's Nix library")
    sha256 = digest.removeprefix("sha256:")
    return Pin(_fetch_tarball(name, RELEASE_URL.format(version=__version__), sha256), store_path)


def mach_nix_source(value: str | None, base: Path) -> Pin:
    """The ``--mach-nix`` value as a pinned source (see the module docstring)."""
    if not value:
        return own_library()
    if value.startswith("git+"):
        url, _, rev = value[4:].partition("#")
        if not rev:
            head = _nix(["git", "ls-remote", url, "HEAD"], f"reading the HEAD of {url}")
            rev = head.split()[0] if head else ""
        if not re.fullmatch(r"[0-9a-f]{40}", rev):
            raise UsageError(f"--mach-nix {value}: the revision must be a full 40-digit commit hash, not {rev!r}")
        return Pin(f"builtins.fetchGit {{ url = {nix_string(url)}; rev = {nix_string(rev)}; }}")
    if re.match(r"[a-z][a-z0-9+.-]*://", value):
        return Pin(_fetch_tarball("mach-nix", value, _prefetch(value, "mach-nix")))
    path = Path(value)
    if not (path / "default.nix").is_file() or not (path / "lib" / "mkPython.nix").is_file():
        raise UsageError(
            f"--mach-nix {value}: not a mach-nix checkout (no default.nix and lib/mkPython.nix); "
            "pass a checkout, a tarball URL or git+URL[#REV]"
        )
    return Pin(nix_path(path, base))


#: The default nixpkgs: <nixpkgs>, or an error that says the fixes.
DEFAULT_NIXPKGS = (
    "if (builtins.tryEval <nixpkgs>).success then import <nixpkgs> { }\n"
    '    else throw ("mach-nix: no nixpkgs: add it to NIX_PATH (-I nixpkgs=PATH, or NIX_PATH=nixpkgs=PATH), "\n'
    "      + \"pass --arg pkgs 'import PATH { }', or regenerate this file with --pkgs URL|PATH\")"
)


def nixpkgs_expr(value: str | None, base: Path) -> str:
    """The ``--pkgs`` value as a Nix expression of the package set (see the module docstring)."""
    if not value:
        return f"({DEFAULT_NIXPKGS})"
    if re.match(r"[a-z][a-z0-9+.-]*://", value):
        return f"import ({_fetch_tarball('nixpkgs', value, _prefetch(value, 'nixpkgs'))}) {{ }}"
    if Path(value).is_dir():
        return f"import {nix_path(Path(value), base)} {{ }}"
    return f"({value})"


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--pkgs``, ``--mach-nix`` and ``--interpreter`` (``env`` and ``gen``)."""
    parser.add_argument(
        "--pkgs",
        "--nixpkgs",
        dest="pkgs",
        metavar="URL|PATH|EXPR",
        help="the nixpkgs to build with by default: a tarball URL (pinned by its hash), a directory, or a Nix "
        "expression of the package set (default: <nixpkgs>, an error naming the fixes when there is none)",
    )
    parser.add_argument(
        "--mach-nix",
        dest="mach_nix",
        metavar="URL|PATH",
        help="the mach-nix the files import: a tarball URL or git+URL[#REV] (pinned), or a checkout (a relative "
        "import). Default: this mach-nix's own library, pinned by hash to its release URL and added to the Nix store",
    )
    parser.add_argument(
        "--interpreter",
        metavar="ATTR",
        help="the nixpkgs interpreter attribute to build with (default: python3XY for --python X.Y)",
    )


def interpreter_attr(args: argparse.Namespace) -> str:
    """``--interpreter``, else ``python3XY`` for the target Python ``--python 3.XY[.Z]``."""
    if args.interpreter:
        return str(args.interpreter)
    parts = str(args.python).split(".")
    return "python" + "".join(parts[:2])


def regenerate_command(argv: Sequence[str]) -> str:
    """The command line that wrote a file, with absolute paths made relative to the directory
    it runs in (generated files name no absolute path of the machine)."""
    cwd = os.getcwd()

    def relative(token: str) -> str:
        option, eq, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if os.path.isabs(value):
            value = os.path.relpath(value, cwd)
        return option + eq + value

    return " ".join(shlex.quote(relative(a)) for a in ["mach-nix", *argv])


def to_nix(value: object, indent: str = "") -> str:
    """A JSON value as a Nix literal (objects as attribute sets, keys quoted unless plain)."""
    inner = indent + "  "
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"({json.dumps(value)})" if value < 0 else json.dumps(value)
    if isinstance(value, str):
        return nix_string(value)
    if isinstance(value, list):
        if not value:
            return "[ ]"
        return "[\n" + "".join(f"{inner}{to_nix(item, inner)}\n" for item in value) + indent + "]"
    if isinstance(value, dict):
        if not value:
            return "{ }"
        keys = [(k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_'-]*", k) else nix_string(k), v) for k, v in value.items()]
        return "{\n" + "".join(f"{inner}{k} = {to_nix(v, inner)};\n" for k, v in keys) + indent + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def write_files(files: dict[Path, str]) -> None:
    """Write every file or none: each is staged beside its target, then all are renamed."""
    staged: list[tuple[Path, Path]] = []
    try:
        for final, text in files.items():
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            staged.append((tmp, final))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()


def keep_in_store(store_path: str | None, link: Path) -> None:
    """Make ``link`` a garbage-collector root of ``store_path`` (a warning if Nix refuses)."""
    if store_path is None:
        return
    proc = subprocess.run(
        ["nix-store", "--realise", store_path, "--add-root", str(link)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        print(
            f"mach-nix: warning: could not make {link} a garbage-collector root of {store_path}: "
            f"{proc.stderr.strip()[-300:]}",
            file=sys.stderr,
        )
