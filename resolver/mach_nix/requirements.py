"""Reading the requirements people write: requirements.txt files and pyproject.toml.

Requirement lines are parsed with :class:`packaging.requirements.Requirement`
(PEP 508); this module only handles the *file* syntax around them:

* ``#`` comments (at the start of a line or after whitespace) and blank lines;
* backslash line continuations;
* ``-r FILE`` / ``--requirement FILE`` and ``-c FILE`` / ``--constraint FILE``,
  with paths relative to the including file;
* ``--pre`` (allow pre-releases everywhere);
* ``name @ URL`` direct references, whose ``#sha256=…`` fragment pins the file.

Every command reads requirements through this module (``lock``, ``resolve``,
``env`` and ``db crawl``), so they all accept the same syntax.

pip options that do not make sense for an offline, hash-pinned resolution
(``-e``, ``--index-url``, ``--hash``, ``--find-links``, …) raise a
:class:`~mach_nix.errors.UsageError` naming the file and line.

pyproject.toml: PEP 621 ``[project] dependencies`` and chosen
``optional-dependencies``, and PEP 735 ``[dependency-groups]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier
from packaging.utils import canonicalize_name

from mach_nix.errors import UsageError

#: pip options that take a file argument and that mach-nix understands.
_INCLUDE_OPTIONS = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "constraint",
    "--constraint": "constraint",
}

#: pip options mach-nix rejects, with the reason shown to the user.
_REJECTED_OPTIONS = {
    "-e": "editable installs cannot be locked; use 'name @ https://…#sha256=…' or packagesExtra",
    "--editable": "editable installs cannot be locked; use 'name @ https://…#sha256=…' or packagesExtra",
    "-i": "mach-nix resolves against its PyPI database, not an index URL",
    "--index-url": "mach-nix resolves against its PyPI database, not an index URL",
    "--extra-index-url": "mach-nix resolves against its PyPI database; add packages to a DB layer (mach-nix db crawl)",
    "--no-index": "mach-nix never talks to an index while resolving",
    "-f": "mach-nix resolves against its PyPI database, not --find-links",
    "--find-links": "mach-nix resolves against its PyPI database, not --find-links",
    "--hash": "artifact hashes come from the database and are written to the lock",
    "--trusted-host": "mach-nix never talks to an index while resolving",
    "--only-binary": "choose wheels with --provider NAME=wheel instead",
    "--no-binary": "choose sdists with --provider NAME=sdist instead",
    "--prefer-binary": "choose wheels with --provider instead",
    "--use-feature": "pip features do not apply to mach-nix",
    "--global-option": "build options are set on the Nix side (the _ argument / overrides)",
    "--config-settings": "build options are set on the Nix side (the _ argument / overrides)",
}

#: A comment: '#' at the start of a line or after whitespace (pip's rule).
_COMMENT = re.compile(r"(^|\s+)#.*$")


@dataclass(frozen=True)
class RootRequirement:
    """One requirement (or constraint) as the user wrote it.

    Attributes:
        requirement: the parsed PEP 508 requirement.
        origin: where it came from, for error messages (``reqs.txt:3``).
        sha256: the ``#sha256=`` fragment of a direct URL reference, lowercase.
    """

    requirement: Requirement
    origin: str
    sha256: str | None = None

    @property
    def name(self) -> str:
        """The PEP 503 normalised project name."""
        return canonicalize_name(self.requirement.name)

    def __str__(self) -> str:
        return str(self.requirement)


@dataclass
class RequirementSet:
    """Everything read from the user's input files.

    Attributes:
        requirements: the root requirements, in input order.
        constraints: ``-c`` constraints (restrict versions, never add packages).
        pre: ``--pre`` was given: pre-releases are allowed everywhere.
    """

    requirements: list[RootRequirement] = field(default_factory=list)
    constraints: list[RootRequirement] = field(default_factory=list)
    pre: bool = False

    def extend(self, other: RequirementSet) -> None:
        """Append the contents of ``other``."""
        self.requirements.extend(other.requirements)
        self.constraints.extend(other.constraints)
        self.pre = self.pre or other.pre


def parse_requirement(text: str, origin: str = "<argument>") -> RootRequirement:
    """Parse one PEP 508 requirement (``name[extras] spec ; marker`` or ``name @ URL``).

    Raises:
        UsageError: the text is not a requirement mach-nix can use.
    """
    text = text.strip()
    if text.startswith("-"):
        option = text.split(None, 1)[0].split("=", 1)[0]
        reason = _REJECTED_OPTIONS.get(option, "not a requirement")
        raise UsageError(f"{origin}: pip option {option!r} is not supported: {reason}")
    try:
        requirement = Requirement(text)
    except (InvalidRequirement, InvalidSpecifier, ValueError) as error:
        # packaging raises InvalidSpecifier (not InvalidRequirement) for e.g. "a===,b"
        raise UsageError(f"{origin}: invalid requirement {text!r}: {_explain_invalid(text, error)}") from None
    sha256 = None
    if requirement.url is not None:
        sha256 = _check_url(requirement.url, origin)
    return RootRequirement(requirement=requirement, origin=origin, sha256=sha256)


def parse_dependency(text: str) -> Requirement | None:
    """Parse a ``Requires-Dist`` string of package metadata; ``None`` when it is invalid.

    Metadata is not the user's input: an invalid entry is skipped (and counted
    or warned about by the caller), never an error.
    """
    try:
        return Requirement(text)
    except (InvalidRequirement, InvalidSpecifier, ValueError):
        return None


def coerce_requirements(requirements: RequirementSet | Sequence[str] | str) -> RequirementSet:
    """Accept a :class:`RequirementSet`, a list of PEP 508 strings, or requirements.txt text."""
    if isinstance(requirements, RequirementSet):
        return requirements
    if isinstance(requirements, str):
        return parse_requirements_text(requirements)
    result = RequirementSet()
    for index, text in enumerate(requirements):
        result.requirements.append(parse_requirement(text, f"<requirement {index + 1}>"))
    return result


def _explain_invalid(text: str, error: Exception) -> str:
    """A helpful reason why ``text`` is not a requirement."""
    if " --" in text or re.search(r"\s-[a-zA-Z]\b", text):
        return "per-requirement pip options (--hash, --config-settings, …) are not supported"
    lowered = text.lower()
    if lowered.startswith(("git+", "hg+", "svn+", "bzr+")):
        return "VCS references are not supported; use 'name @ https://…/archive.tar.gz#sha256=…'"
    if "://" in text or text.startswith((".", "/", "~")):
        return "a bare URL or path needs a name: write 'name @ URL#sha256=…'"
    first_line = str(error).splitlines()[0]
    return first_line


def _check_url(url: str, origin: str) -> str | None:
    """Validate a direct reference URL; return its ``#sha256=`` fragment if any."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise UsageError(f"{origin}: invalid URL {url!r}: {error}") from None
    scheme = parts.scheme.lower()
    if "+" in scheme:
        raise UsageError(f"{origin}: VCS reference {url!r} is not supported; use an archive URL with '#sha256=…'")
    if scheme not in ("https", "http", "file"):
        raise UsageError(f"{origin}: unsupported URL scheme in {url!r} (use https://…#sha256=…)")
    sha256 = None
    for item in parts.fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "sha256":
            value = value.lower()
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise UsageError(f"{origin}: invalid sha256 fragment in {url!r}")
            sha256 = value
        elif key in ("md5", "sha1", "sha224", "sha384", "sha512"):
            raise UsageError(f"{origin}: only '#sha256=' hashes are supported in {url!r}")
    return sha256


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Yield ``(first line number, line)`` after joining continuations and dropping comments."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = raw
        if line.endswith("\\") and not _COMMENT.match(line):
            buffer.append(line[:-1])
            continue
        buffer.append(line)
        joined = _COMMENT.sub("", "".join(buffer)).strip()
        buffer = []
        if joined:
            yield start, joined
    if buffer:
        joined = _COMMENT.sub("", "".join(buffer)).strip()
        if joined:
            yield start, joined


def _split_option(line: str) -> tuple[str, str]:
    """Split ``-r file``, ``-rfile``, ``--requirement=file`` into (option, argument)."""
    if line.startswith("--"):
        head, sep, rest = line.partition("=")
        if sep and " " not in head:
            return head, rest.strip()
        head, _, rest = line.partition(" ")
        return head, rest.strip()
    option, rest = line[:2], line[2:]
    return option, rest.strip()


def parse_requirements_text(
    text: str,
    origin: str = "<requirements>",
    base_dir: Path | None = None,
    *,
    as_constraints: bool = False,
    _stack: tuple[Path, ...] = (),
) -> RequirementSet:
    """Parse the text of a requirements file.

    Args:
        text: the file's contents.
        origin: the file's name as shown in error messages.
        base_dir: directory that ``-r``/``-c`` paths are relative to
            (default: the current directory).
        as_constraints: the text is a constraints file: every requirement
            becomes a constraint.

    Raises:
        UsageError: a malformed line or an unsupported pip option, naming the line.
    """
    result = RequirementSet()
    base = base_dir if base_dir is not None else Path(".")
    for number, line in _logical_lines(text):
        where = f"{origin}:{number}"
        if line.startswith("-"):
            option, argument = _split_option(line)
            if option in _INCLUDE_OPTIONS:
                if not argument:
                    raise UsageError(f"{where}: {option} needs a file name")
                kind = _INCLUDE_OPTIONS[option]
                included = parse_requirements_file(
                    base / argument,
                    as_constraints=as_constraints or kind == "constraint",
                    display=_display_path(origin, argument),
                    _stack=_stack,
                    _where=where,
                )
                result.extend(included)
                continue
            if option == "--pre":
                result.pre = True
                continue
            reason = _REJECTED_OPTIONS.get(option, "unknown option")
            raise UsageError(f"{where}: pip option {option!r} is not supported: {reason}")
        parsed = parse_requirement(line, where)
        if as_constraints:
            _check_constraint(parsed, where)
            result.constraints.append(parsed)
        else:
            result.requirements.append(parsed)
    return result


def _display_path(origin: str, argument: str) -> str:
    """Name of an included file for messages: relative to the including file's name."""
    parent = os.path.dirname(origin) if not origin.startswith("<") else ""
    return os.path.normpath(os.path.join(parent, argument))


def _check_constraint(parsed: RootRequirement, where: str) -> None:
    """Constraints restrict versions only: no extras, no URLs (pip's rules)."""
    if parsed.requirement.extras:
        raise UsageError(f"{where}: constraints cannot have extras ({parsed.requirement})")
    if parsed.requirement.url:
        raise UsageError(f"{where}: constraints cannot be direct references ({parsed.requirement})")


def parse_requirements_file(
    path: str | os.PathLike[str],
    *,
    as_constraints: bool = False,
    display: str | None = None,
    _stack: tuple[Path, ...] = (),
    _where: str | None = None,
) -> RequirementSet:
    """Read and parse a requirements file (``-r``/``-c`` includes followed).

    Raises:
        UsageError: the file cannot be read, includes itself, or has a bad line.
    """
    path = Path(path)
    shown = display or str(path)
    prefix = f"{_where}: " if _where else ""
    try:
        key = path.resolve()
    except (OSError, ValueError) as error:  # e.g. an embedded NUL byte
        raise UsageError(f"{prefix}cannot read {shown!r}: {getattr(error, 'strerror', None) or error}") from None
    if key in _stack:
        raise UsageError(f"{prefix}{shown} includes itself (through -r/-c)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{prefix}{shown} is not UTF-8 text") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UsageError(f"{prefix}cannot read requirements file {shown}: {reason}") from None
    return parse_requirements_text(text, shown, path.parent, as_constraints=as_constraints, _stack=(*_stack, key))


def _load_toml(path: Path) -> dict:
    """Read a TOML file with tomllib (Python 3.11+) or tomli."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise UsageError("reading pyproject.toml needs Python 3.11+ or the 'tomli' package") from None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: invalid TOML: {error}") from None


def parse_pyproject(
    path: str | os.PathLike[str],
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    *,
    display: str | None = None,
) -> RequirementSet:
    """Read the requirements of a pyproject.toml.

    Args:
        path: the pyproject.toml file.
        extras: PEP 621 ``optional-dependencies`` to include.
        groups: PEP 735 ``dependency-groups`` to include (``include-group`` followed).

    Raises:
        UsageError: unreadable file, dynamic dependencies, unknown extra or group.
    """
    path = Path(path)
    shown = display or str(path)
    data = _load_toml(path)
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise UsageError(f"{shown}: [project] must be a table")
    dynamic = project.get("dynamic", [])
    result = RequirementSet()
    if "dependencies" in dynamic:
        raise UsageError(f"{shown}: [project] dependencies are dynamic; mach-nix reads only static PEP 621 metadata")
    result.requirements += _requirement_list(project.get("dependencies", []), f"{shown} [project.dependencies]")
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise UsageError(f"{shown}: [project.optional-dependencies] must be a table")
    by_extra = {canonicalize_name(key): key for key in optional}
    for extra in extras:
        key = by_extra.get(canonicalize_name(extra))
        if key is None:
            if "optional-dependencies" in dynamic:
                raise UsageError(f"{shown}: optional-dependencies are dynamic; cannot read extra {extra!r}")
            known = ", ".join(sorted(optional)) or "none"
            raise UsageError(f"{shown}: unknown extra {extra!r} (known extras: {known})")
        result.requirements += _requirement_list(optional[key], f"{shown} [project.optional-dependencies.{key}]")
    all_groups = data.get("dependency-groups", {})
    if not isinstance(all_groups, dict):
        raise UsageError(f"{shown}: [dependency-groups] must be a table")
    for group in groups:
        result.requirements += _group_requirements(all_groups, group, shown, ())
    return result


def _requirement_list(items: object, where: str) -> list[RootRequirement]:
    """Parse a TOML array of PEP 508 strings."""
    if not isinstance(items, list):
        raise UsageError(f"{where}: expected an array of requirement strings")
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise UsageError(f"{where}[{index}]: expected a requirement string, got {item!r}")
        result.append(parse_requirement(item, f"{where}[{index}]"))
    return result


def _group_requirements(groups: dict, name: str, shown: str, stack: tuple[str, ...]) -> list[RootRequirement]:
    """Expand one PEP 735 dependency group (with ``include-group``)."""
    by_name = {canonicalize_name(key): key for key in groups}
    key = by_name.get(canonicalize_name(name))
    if key is None:
        known = ", ".join(sorted(groups)) or "none"
        raise UsageError(f"{shown}: unknown dependency group {name!r} (known groups: {known})")
    if canonicalize_name(key) in stack:
        raise UsageError(f"{shown}: dependency group {key!r} includes itself")
    items = groups[key]
    where = f"{shown} [dependency-groups.{key}]"
    if not isinstance(items, list):
        raise UsageError(f"{where}: expected an array")
    result: list[RootRequirement] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            result.append(parse_requirement(item, f"{where}[{index}]"))
        elif isinstance(item, dict) and set(item) == {"include-group"} and isinstance(item["include-group"], str):
            result += _group_requirements(groups, item["include-group"], shown, (*stack, canonicalize_name(key)))
        else:
            raise UsageError(f'{where}[{index}]: expected a string or {{include-group = "…"}}')
    return result
