"""Builders of the Nix library's evaluation-time derivations (import-from-derivation).

``lib/run-resolver.nix`` runs ``python -m mach_nix.nix_builder COMMAND ARGS…`` as a
derivation builder and reads back the JSON written to ``$out``. The commands:

``lock ARGS…``
    Run ``mach-nix lock ARGS… --offline --no-cache -o $out``: nothing is fetched and only
    the databases named by ``ARGS`` are read (an evaluation stays pure; the user's cache
    of fetched metadata is not one of its inputs). ``$out`` always holds JSON:

    * the lock;
    * ``{"error": "<message>", "names": [...], "unknown_roots": [...]}`` when the resolver
      refuses the input, so that Nix shows the resolver's message as a short evaluation
      error instead of a failed-build log; ``names`` are the project names the resolution
      could reach (see ``names``), which Nix probes in nixpkgs before it retries with the
      ``nixpkgs`` provider, and ``unknown_roots`` the requested names the databases do not
      have (a retry cannot help when nixpkgs lacks one of them too: a typo);
    * ``{"fetch": [{"file", "sha256", "url"}, …]}`` when a graph-only database lacks
      file-index shards of the chosen artifacts: Nix fetches them (fixed output, hashes
      from the manifest) and runs this again with ``--files-cache``.

``db-names DB…``
    The sorted list of every project name in the database layers (``gen.python.<name>``).

``names ARGS…``
    The names a resolution of ``mach-nix lock ARGS…`` could ever look up in the nixpkgs
    inventory: the root requirements and, transitively, every ``Requires-Dist`` name of
    every release the databases hold (markers other than ``extra`` are not evaluated;
    ``extra`` ones are followed only for extras that are asked for). Probing just these
    attributes keeps an evaluation from enumerating all of ``python.pkgs``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mach_nix import cli
from mach_nix.commands.inputs import open_db
from mach_nix.db.store import MissingFilesError, open_database
from mach_nix.errors import MachNixError
from mach_nix.requirements import RequirementSet, parse_pyproject, parse_requirement, parse_requirements_file

#: Appended to every command line: evaluation-time resolution reads only the databases it
#: is given and never fetches (see the module docstring).
PURE = ("--offline", "--no-cache")

#: ``extra == "name"`` in a marker (either quote); other markers are not evaluated.
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _write(data: object) -> None:
    with open(os.environ["out"], "w") as handle:
        json.dump(data, handle)


def lock(argv: Sequence[str]) -> int:
    """``lock``: the lock, or the resolver's error as data (see the module docstring)."""
    out = os.environ["out"]
    stderr = io.StringIO()
    fetch = None
    with contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(["lock", *argv, *PURE, "-o", out], reraise=(MissingFilesError,))
        except MissingFilesError as error:
            code = 0 if all(source["url"] for source in error.sources) else 6
            fetch = error.sources
            if code:
                print(f"mach-nix: error: {error}", file=sys.stderr)
    if fetch is not None and code == 0:
        _write({"fetch": fetch})
    elif code != 0:
        message = stderr.getvalue().strip()
        prefix = "mach-nix: error: "
        if message.startswith(prefix):
            message = message[len(prefix) :]
        try:
            reachable, unknown_roots = reachable_names(argv)
        except MachNixError:
            reachable, unknown_roots = [], []
        _write(
            {
                "error": message or f"the resolver exited with code {code}",
                "names": reachable,
                "unknown_roots": unknown_roots,
            }
        )
    else:
        sys.stderr.write(stderr.getvalue())
    return 0


def db_names(paths: Sequence[str]) -> int:
    """``db-names``: every project name of the database layers."""
    _write(sorted(open_database(list(paths)).names()))
    return 0


def reachable_names(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """The normalised names a resolution of ``lock ARGV`` could reach (module docstring),
    and the root names the databases do not have."""
    args = cli.build_parser().parse_args(["lock", *argv, *PURE])
    roots = RequirementSet()
    for path in args.requirements:
        roots.extend(parse_requirements_file(path))
    if args.pyproject:
        roots.extend(parse_pyproject(args.pyproject, args.extra, args.group))
    for index, text in enumerate(args.requirement):
        roots.requirements.append(parse_requirement(text, f"argument {index + 1}"))
    db, _versions = open_db(args)
    try:
        return _reachable(db, roots)
    finally:
        db.stop(wait=False)


def _reachable(db: Any, roots: RequirementSet) -> tuple[list[str], list[str]]:
    wanted: dict[str, set[str]] = {}  # name -> extras asked for
    unknown: set[str] = set()
    queue: list[tuple[str, Iterable[str]]] = [(root.name, root.requirement.extras) for root in roots.requirements]
    while queue:
        name, extras = queue.pop()
        known = wanted.get(name)
        new_extras = {canonicalize_name(e) for e in extras} - (known or set())
        if known is not None and not new_extras:
            continue
        wanted[name] = (known or set()) | new_extras
        project = db.project(name)
        if project is None:
            unknown.add(name)
            continue
        for release in project.releases.values():
            for meta in release.metadata:
                for text in meta.requires_dist:
                    try:
                        requirement = Requirement(text)
                    except InvalidRequirement:
                        continue
                    extras_named = {canonicalize_name(e) for e in _EXTRA.findall(str(requirement.marker or ""))}
                    if extras_named and not extras_named & wanted[name]:
                        continue
                    queue.append((canonicalize_name(requirement.name), requirement.extras))
    root_names = {root.name for root in roots.requirements}
    return sorted(wanted), sorted(unknown & root_names)


def names(argv: Sequence[str]) -> int:
    """``names``: write :func:`reachable_names` (an error is written as ``{"error": …}``)."""
    try:
        _write(reachable_names(argv)[0])
    except MachNixError as error:
        _write({"error": str(error)})
    return 0


COMMANDS = {"lock": lock, "db-names": db_names, "names": names}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one builder command (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m mach_nix.nix_builder {{{','.join(COMMANDS)}}} ARGS…", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
