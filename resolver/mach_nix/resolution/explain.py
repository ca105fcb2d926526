"""Turning resolution failures into messages a person can act on.

* unknown names (all of them at once): close names from the database, and what
  adds a project (fetching it, or ``mach-nix db crawl``);
* a version the database does not have yet: say so and how to update the DB (or,
  for fetched data, that the cut-off hid it, or how to fetch it again);
* only yanked releases match: say so, and that an exact pin accepts one;
* versions exist but no artifact fits the target: list what exists, per platform,
  and name the provider setting that excludes an artifact that would fit;
* a real conflict: the chains of requirements that clash, from the user's
  line down to the requirement that cannot be met.

The functions read the database through a :class:`~mach_nix.resolution.artifacts.Finder`
(with fetching switched off: an explanation looks at what is known) and follow
requirements back to the user's input through ``requested``, the requirements the
resolver met per identifier.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from mach_nix.errors import MachNixError, NotFoundError, ResolutionError
from mach_nix.resolution.artifacts import Finder, wheel_tags
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


def _crawl_hint(names: Sequence[str]) -> str:
    return f"mach-nix db crawl --db DIR {' '.join(names)}"


def unknown_projects(finder: Finder, requested: Requested, missing: Mapping[str, Sequence[Req]]) -> NotFoundError:
    """The error for names that neither the database nor the registry gives: every one of
    them, who requires it, close names, and what adds a project."""
    import difflib  # only on this error path: it costs every resolution a few ms to import

    names = sorted(missing)
    try:
        known = [n for n in finder.names() if n not in missing]
    except Exception:  # suggestions are best effort
        known = []
    db: Any = finder.index.db
    reasons = {name: getattr(db, "missing_reason", lambda _n: None)(name) for name in names}
    shown = ", ".join(repr(n) for n in names)
    if all(reason == "registry" for reason in reasons.values()):
        where = f"in the database nor on the registry ({getattr(db, 'index', None) or 'PyPI'})"
    elif all(reason == "offline" for reason in reasons.values()):
        where = "in the databases nor in the cache of fetched metadata (--offline forbids fetching)"
    else:
        where = "in the database"
    lines = [f"no project named {shown} {where}" if len(names) == 1 else f"no projects named {shown} {where}"]
    for name in names:
        prefix = "  required by: " if len(names) == 1 else f"  {name} required by: "
        for req in list(missing[name])[:3]:
            lines.append(prefix + " -> ".join(chain(requested, req)))
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.75)
        if close:
            lines.append(
                ("  did you mean: " if len(names) == 1 else f"  {name}: did you mean ") + ", ".join(close) + "?"
            )
    offline = [n for n in names if reasons[n] == "offline"]
    unknown = [n for n in names if reasons[n] is None]
    if offline:
        lines.append(
            "  drop --offline to fetch "
            + ("it" if len(offline) == 1 else "them")
            + " from the registry, or add "
            + ("it" if len(offline) == 1 else "them")
            + f" to a database of yours: {_crawl_hint(offline)}, and pass --db DIR"
        )
    if unknown:
        lines.append(
            f"  if {'it is' if len(unknown) == 1 else 'they are'} on PyPI, add "
            + ("it" if len(unknown) == 1 else "them")
            + f" to a database of yours: {_crawl_hint(unknown)}, and pass"
            " --db DIR"
        )
    if any(reasons[n] == "registry" for n in names):
        lines.append("  the registry has no project of that name: check the spelling")
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
            state = finder.metadata_state(name, release, dist)
            problems.append("metadata not fetched" if state in ("fetchable", "unfetched") else "metadata unknown")
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
        lines.extend(_newer_hints(finder, name, req))
        return NotFoundError("\n".join(lines))
    # Versions exist: does any of them have an artifact usable with the allowed providers?
    order = finder.providers.order_for(name)
    yanked: list[Candidate] = []
    for provider in order:
        for candidate in finder.iter_base_candidates(name, provider):
            if not req.specifier.contains(candidate.version, prereleases=True):
                continue
            if not candidate.yanked or req.is_pin():
                return None
            yanked.append(candidate)
        if _fetchable(finder, name, provider, req):
            return None
    if yanked:
        return _only_yanked(finder, requested, req, yanked)
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
    hints = _provider_hints(finder, name, req, order, matching_nix)
    lines.extend(hints or ["  hint: choose another Python version or system, or another version of the package"])
    return NotFoundError("\n".join(lines))


def _newer_hints(finder: Finder, name: str, req: Req) -> list[str]:
    """How to get versions the data lacks: the cut-off, fetching the page again, or updating the DB."""
    db: Any = finder.index.db
    origin = getattr(db, "origin", lambda _n: None)(name)
    if origin not in ("cache", "fetched"):
        return [f"  if the version you need was released after the database was built, {UPDATE_HINT}"]
    lines = []
    hidden = [v for v in db.hidden_versions(name) if _valid(v) and req.specifier.contains(Version(v), prereleases=True)]
    cutoff = getattr(db, "cutoff", None)
    if hidden:
        lines.append(
            f"  {name} {', '.join(hidden[-5:])} {'was' if len(hidden) == 1 else 'were'} uploaded after the cut-off"
            f" {cutoff} (--exclude-newer, by default the pinned database's crawl time): pass a later"
            " --exclude-newer DATE to see it"
        )
    if origin == "cache":
        lines.append(
            f"  the cached page of {name} was fetched at {db.fetched_at(name)}: --refresh-package {name}"
            " fetches it again"
        )
    return lines


def _fetchable(finder: Finder, name: str, provider: str, req: Req) -> bool:
    """Does a matching release have a file for ``provider`` whose metadata is not fetched yet?"""
    if finder.source is None or provider == "nixpkgs":
        return False
    for version, _vs, release in finder.versions(name):
        if req.specifier.contains(version, prereleases=True) and finder.planned_file(name, release, provider):
            return True
    return False


def _file_for(finder: Finder, name: str, provider: str, req: Req) -> str | None:
    """The newest matching version with a file ``provider`` could use on the target, metadata or not."""
    for version, version_str, release in finder.versions(name):
        if not req.specifier.contains(version, prereleases=True):
            continue
        for dist in release.files:
            if not finder.python_ok(dist.requires_python):
                continue
            if provider == "sdist" and not dist.is_wheel:
                return version_str
            if provider == "wheel" and dist.is_wheel:
                try:
                    if finder.target.wheel_rank(wheel_tags(dist.filename)) is not None:
                        return version_str
                except ValueError:
                    continue
    return None


def _only_yanked(finder: Finder, requested: Requested, req: Req, yanked: Sequence[Candidate]) -> NotFoundError:
    """Every artifact that would do is yanked (PEP 592), and ``req`` is no exact pin."""
    versions: dict[str, str] = {}
    for candidate in yanked:
        reason = (candidate.dist.yanked if candidate.dist is not None else None) or ""
        versions.setdefault(candidate.version_str, reason)
    shown = ", ".join(f"{v} (yanked{': ' + r if r else ''})" for v, r in list(versions.items())[:6])
    newest = next(iter(versions))
    lines = [
        f"only yanked releases of {req.name} match {req.text}: {shown}",
        "  required by: " + " -> ".join(chain(requested, req)),
        f"  a yanked release is used only when pinned exactly (PEP 592): {req.name}=={newest}",
    ]
    return NotFoundError("\n".join(lines))


def _provider_hints(
    finder: Finder, name: str, req: Req, order: Sequence[str], matching_nix: Sequence[str]
) -> list[str]:
    """For each provider the settings exclude that would give a candidate: the setting to change."""
    key = name if name in finder.providers.per_package else "_default"
    current = ",".join(order)
    lines = []
    for provider in ("wheel", "sdist", "nixpkgs"):
        if provider in order:
            continue
        if provider == "nixpkgs":
            found = matching_nix[0] if matching_nix else None
        else:
            found = next(
                (
                    c.version_str
                    for c in finder.iter_base_candidates(name, provider)
                    if req.specifier.contains(c.version, prereleases=True)
                ),
                None,
            )
            if found is None:
                found = _file_for(finder, name, provider, req)
                if found is not None:
                    found += " (its dependency metadata is not known yet)"
        if found is None:
            continue
        allowed = f"{current},{provider}"
        lines.append(
            f'  hint: the provider setting providers.{key} = "{current}" (--provider {key}={current}) excludes'
            f' {provider}, which has {name} {found}; allow it with providers.{name} = "{allowed}"'
            f" (--provider {name}={allowed})"
        )
    return lines


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
