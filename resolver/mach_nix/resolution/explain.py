"""Turning resolution failures into messages a person can act on.

* an unknown name: close names from the database;
* a version the database does not have yet: say so and how to update the DB;
* versions exist but no artifact fits the target: list what exists, per platform;
* a real conflict: the chains of requirements that clash, from the user's
  line down to the requirement that cannot be met.

The functions read the database through a :class:`~mach_nix.resolution.artifacts.Finder`
and follow requirements back to the user's input through ``requested``, the
requirements the resolver met per identifier.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from mach_nix.errors import MachNixError, NotFoundError, ResolutionError
from mach_nix.resolution.artifacts import Finder
from mach_nix.resolution.candidates import Candidate, Req, identifier, satisfies

#: The requirements the resolver met per resolvelib identifier (the last ones seen).
Requested = Mapping[str, Sequence[Req]]
#: The user's constraints per normalised name.
Constraints = Mapping[str, Sequence[Req]]

#: How to update the database, shown when something is newer than it.
UPDATE_HINT = "update the database (a newer pinned DB of mach-nix, or 'mach-nix db update --db DIR' and pass --db DIR)"


def _where(req: Req) -> str:
    """``reqs.txt:3`` for a root requirement, ``flask 1.0`` for a dependency."""
    if req.parent is None:
        return req.origin or "your requirements"
    return f"{req.parent.describe()}"


def chain(requested: Requested, req: Req, limit: int = 12) -> list[str]:
    """The chain of requirements that led to ``req``, from the user's input down."""
    links: list[str] = []
    seen: set[str] = set()
    current: Req | None = req
    while current is not None and len(links) < limit:
        if current.parent is None:
            links.append(f"{current.text} ({current.origin or 'your requirements'})")
            break
        parent = current.parent
        links.append(f"{parent.describe()} requires {current.text}")
        key = identifier(parent.name, parent.extras)
        if key in seen:
            break
        seen.add(key)
        current = _why(requested, parent)
    links.reverse()
    return links


def _why(requested: Requested, candidate: Candidate) -> Req | None:
    """A requirement that brought ``candidate`` in (preferring root requirements)."""
    reqs = requested.get(identifier(candidate.name, candidate.extras), [])
    satisfied = [r for r in reqs if satisfies(r, candidate)]
    for req in satisfied:
        if req.parent is None:
            return req
    return satisfied[0] if satisfied else (reqs[0] if reqs else None)


def unknown_project(finder: Finder, requested: Requested, name: str, reqs: Sequence[Req]) -> NotFoundError:
    """The error for a name the database does not know, with close matches."""
    import difflib  # only on this error path: it costs every resolution a few ms to import

    try:
        names = finder.names()
    except Exception:  # suggestions are best effort
        names = []
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.75)
    lines = [f"no project named {name!r} in the database"]
    for req in reqs[:3]:
        lines.append("  required by: " + " -> ".join(chain(requested, req)))
    if close:
        lines.append("  did you mean: " + ", ".join(close) + "?")
    lines.append(f"  if {name!r} is on PyPI but newer than the database, {UPDATE_HINT}")
    return NotFoundError("\n".join(lines))


def _platforms_of(finder: Finder, name: str, version_str: str) -> list[str]:
    """Short descriptions of the artifacts of one release (for 'no artifact' errors)."""
    project = finder.project(name)
    if project is None:
        return []
    release = project.releases.get(version_str)
    if release is None:
        return []
    items: list[str] = []
    for dist in release.files:
        if dist.is_wheel:
            try:
                _n, _v, _b, tags = parse_wheel_filename(dist.filename)
                label = "wheel " + ".".join(sorted({str(t) for t in tags}))[:120]
            except InvalidWheelFilename:
                label = "wheel " + dist.filename
        else:
            label = "sdist " + dist.filename
        problems = []
        meta = release.metadata_of(dist)
        if meta is None:
            problems.append("metadata unknown")
        if dist.yanked is not None:
            problems.append("yanked")
        rp = dist.requires_python or (meta.requires_python if meta is not None else None)
        if rp and not finder.python_ok(rp):
            problems.append(f"Requires-Python {rp}")
        items.append(label + (f" ({', '.join(problems)})" if problems else ""))
    return items


def _analyse_requirement(
    finder: Finder, requested: Requested, constraints_of: Constraints, req: Req
) -> MachNixError | None:
    """A specific NotFound explanation for one failing requirement, if there is one."""
    name = req.name
    if req.url is not None:
        return None
    versions = finder.versions(name)
    nix_versions = [p.version for p in finder.inventory.packages(name)]
    matching = [(v, vs) for v, vs in versions.versions() if req.specifier.contains(v, prereleases=True)]
    matching_nix = [v for v in nix_versions if req.specifier.contains(Version(v), prereleases=True)]
    constraints = constraints_of.get(name, [])
    if constraints:
        allowed = [(v, vs) for v, vs in matching if all(c.specifier.contains(v, prereleases=True) for c in constraints)]
        if matching and not allowed and not matching_nix:
            lines = [f"{req.text} conflicts with your constraints:"]
            lines.append("  " + " -> ".join(chain(requested, req)))
            for constraint in constraints:
                lines.append(f"  constraint {constraint.text} ({constraint.origin})")
            lines.append(f"  {name} versions matching {req.text}: " + ", ".join(vs for _v, vs in matching[:10]))
            return ResolutionError("\n".join(lines))
        matching = allowed
    if not matching and not matching_nix:
        newest = versions[0][1] if versions else None
        known = [vs for _v, vs in versions.versions()]
        lines = [f"no version of {name} matches {req.text}" + (" and your constraints" if constraints else "")]
        if newest is not None and _asks_newer(req, versions[0][0]):
            lines[0] = f"{req.text} asks for a version of {name} newer than the database knows (newest: {newest})"
        lines.append("  required by: " + " -> ".join(chain(requested, req)))
        if known:
            shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            lines.append(f"  versions in the database: {shown}")
        lines.append(f"  if the version you need was released after the database was built, {UPDATE_HINT}")
        return NotFoundError("\n".join(lines))
    # Versions exist: does any of them have an artifact usable with the allowed providers?
    order = finder.providers.order_for(name)
    usable = False
    for provider in order:
        for candidate in finder.iter_base_candidates(name, provider):
            if req.specifier.contains(candidate.version, prereleases=True):
                usable = True
                break
        if usable:
            break
    if usable:
        return None
    lines = [
        f"no artifact of {name} matching {req.text} can be used for {finder.target.describe()}"
        f" with providers {','.join(order)}"
    ]
    lines.append("  required by: " + " -> ".join(chain(requested, req)))
    for _v, vs in matching[:3]:
        lines.append(f"  {name} {vs} has:")
        artifacts = _platforms_of(finder, name, vs)
        for item in artifacts[:8] or ["no files"]:
            lines.append(f"    {item}")
        if len(artifacts) > 8:
            lines.append(f"    … and {len(artifacts) - 8} more")
    if matching_nix and "nixpkgs" not in order:
        lines.append(f"  nixpkgs has {name} {', '.join(matching_nix)}: allow it with --provider {name}=…,nixpkgs")
    if "sdist" not in order:
        lines.append(f"  hint: allow building from source with --provider {name}={','.join(order)},sdist")
    else:
        lines.append("  hint: choose another Python version or system, or another version of the package")
    return NotFoundError("\n".join(lines))


def _valid(version: str) -> bool:
    try:
        Version(version)
    except ValueError:
        return False
    return True


def _asks_newer(req: Req, newest: Version) -> bool:
    """Does a specifier have a lower bound above the newest version in the DB?"""
    for spec in req.specifier:
        if spec.operator in (">=", ">", "==", "~=", "==="):
            try:
                bound = Version(spec.version.rstrip(".*"))
            except ValueError:
                continue
            if bound > newest:
                return True
    return False


def explain_impossible(
    finder: Finder, requested: Requested, constraints: Constraints, causes: Collection
) -> MachNixError:
    """Build the error for a resolvelib ``ResolutionImpossible`` (its ``causes``)."""
    reqs: list[Req] = [cause.requirement for cause in causes]
    if not reqs:
        return ResolutionError("the requirements cannot be satisfied (no explanation available)")
    names = sorted({req.name for req in reqs})
    if len(names) == 1 and len({req.identifier for req in reqs}) == 1:
        # Every requirement on one name: maybe nothing fits at all, whatever the others say.
        for req in reqs:
            specific = _analyse_requirement(finder, requested, constraints, req)
            if specific is not None:
                return specific
    lines = ["the requirements cannot be satisfied together:"]
    # Requirements that differ only by the version of the package declaring them
    # (black 22.1.0 … 24.3.0 all require click>=8) are shown once, with the versions.
    groups: dict[tuple[str, str, str], list[Req]] = {}
    for req in reqs:
        parent = req.parent
        key = (parent.name if parent else "", req.text, "" if parent else (req.origin or ""))
        groups.setdefault(key, []).append(req)
    seen: set[str] = set()
    for members in groups.values():
        newest = max(members, key=lambda r: r.parent.version if r.parent else 0)
        links = chain(requested, newest)
        parent_versions = sorted(
            {r.parent.version_str for r in members if r.parent}, key=lambda v: Version(v) if _valid(v) else Version("0")
        )
        # Several candidates of one version (its wheel and its sdist) are one line as it is.
        if len(parent_versions) > 1 and newest.parent is not None:
            count = len(parent_versions)
            summary = ", ".join(parent_versions) if count <= 4 else f"{parent_versions[0]} … {parent_versions[-1]}"
            links[-1] = f"{newest.parent.name} {summary} ({count} versions) each require {newest.text}"
        text = " -> ".join(links)
        if text in seen:
            continue
        seen.add(text)
        lines.append(f"  {text}")
    for name in names:
        known = finder.versions(name)
        if known:
            shown = ", ".join(vs for _v, vs in known.versions()[:10]) + (", …" if len(known) > 10 else "")
            lines.append(f"  {name} versions in the database: {shown}")
    lines.append(
        "  hint: relax one of these requirements, or pin an older version of the package that"
        " requires the conflicting one"
    )
    return ResolutionError("\n".join(lines))
