"""Reading the requirements people write: requirements.txt files and pyproject.toml.

Requirement lines are parsed with :class:`packaging.requirements.Requirement`
(PEP 508); this module only handles the *file* syntax around them:

* ``#`` comments (at the start of a line or after whitespace) and blank lines;
* backslash line continuations;
* ``-r FILE`` / ``--requirement FILE`` and ``-c FILE`` / ``--constraint FILE``,
  with paths relative to the including file;
* ``--pre`` (allow pre-releases everywhere);
* ``name @ URL`` direct references, whose ``#sha256=…`` fragment pins the file;
* local and VCS sources, as :class:`LocalSpec` (read and pinned by
  :mod:`mach_nix.local_projects`; nothing is read here): ``.``, ``./path``,
  ``-e PATH``, ``name @ file:///…``, bare archive URLs, ``git+URL@REV``;
* ``--hash=sha256:…`` after a requirement (pip's hash-checking mode, checked
  against the lock by :mod:`mach_nix.local_projects`);
* the other pip options one by one (:data:`OPTION_RULES`): honoured
  (``--only-binary``/``--no-binary`` become provider orders, ``--require-hashes``,
  ``--index-url`` equal to the registry in use), ignored with a warning
  (``--trusted-host``, ``--prefer-binary``, …) or refused with the reason and what to
  do. Every refused line of a file is reported at once, not only the first.

Every command reads requirements through this module (``lock``, ``resolve``,
``env`` and ``db crawl``), so they all accept the same syntax.

pyproject.toml: PEP 621 ``[project] dependencies`` and chosen
``optional-dependencies``, and PEP 735 ``[dependency-groups]``.

**Reading files** (:func:`read_input_file`, also used for the nixpkgs inventory):
only regular files are read (a FIFO, a device or a directory is refused before
it is opened for reading, so ``-r /dev/zero`` or a FIFO without writer cannot
hang or exhaust memory), and at most :data:`MAX_INPUT_BYTES`. Requirements
files are decoded as pip decodes them (:func:`decode_requirements`): a byte-order
mark selects UTF-8, UTF-16 or UTF-32, else a ``# -*- coding: NAME -*-`` comment in
the first two lines, else UTF-8 (never the locale's encoding: the same bytes
mean the same requirements on every machine). pyproject.toml is UTF-8 (TOML's
rule; a UTF-8 byte-order mark is skipped). Every malformed input raises a
:class:`~mach_nix.errors.UsageError` naming the file, never another exception:
``tests/test_fuzz_inputs.py`` checks this with hypothesis.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
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

#: pip options that mach-nix refuses, with the reason and what to do instead.
_REJECTED_OPTIONS = {
    "--extra-index-url": "mach-nix reads one registry (PyPI, or $MACH_NIX_INDEX_URL); give a package that only"
    " this index has as 'name @ https://…/file#sha256=…', or put it in a DB layer (mach-nix db crawl)",
    "-f": "mach-nix does not read --find-links directories; give each file as 'name @ file:///…/file' or"
    " './path/to/file.whl'",
    "--find-links": "mach-nix does not read --find-links directories; give each file as 'name @ file:///…/file'"
    " or './path/to/file.whl'",
    "--global-option": "build options are set on the Nix side (the _ argument / overrides)",
    "--config-settings": "build options are set on the Nix side (the _ argument / overrides)",
    "--install-option": "build options are set on the Nix side (the _ argument / overrides)",
}

#: pip options that do not change what mach-nix locks: ignored, with a warning saying why.
_IGNORED_OPTIONS = {
    "--trusted-host": "mach-nix checks every artifact by sha256",
    "--prefer-binary": "wheels are preferred already (--provider _default=wheel,sdist,nixpkgs)",
    "--use-feature": "pip features do not apply to mach-nix",
    "--no-index": "mach-nix reads its databases and its registry; nothing else is an index",
    "--use-pep517": "mach-nix always builds through PEP 517",
    "--no-build-isolation": "Nix builds are isolated anyway",
}

#: pip options that take an index URL (checked against the registry in use by the caller).
_INDEX_OPTIONS = ("-i", "--index-url")

#: The option lines a requirements file may have, for the message of an unknown one.
OPTION_RULES = (
    "honoured: -r, -c, -e, --pre, --require-hashes, --hash, --only-binary, --no-binary, --index-url (the registry"
    " in use); ignored: " + ", ".join(sorted(_IGNORED_OPTIONS)) + "; refused: " + ", ".join(sorted(_REJECTED_OPTIONS))
)

#: VCS URL prefixes pip knows; mach-nix builds git ones.
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")

#: The largest input file mach-nix reads (requirements, constraints, pyproject.toml,
#: nixpkgs inventory): far above any real one, small enough to parse in seconds.
MAX_INPUT_BYTES = 4 * 1024 * 1024

#: Byte-order marks and their codecs, longest first (UTF-32-LE's starts with UTF-16-LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

#: A PEP 263 style encoding declaration (``# -*- coding: latin-1 -*-``), which pip honours
#: in the first two lines of a requirements file.
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

#: How much of a user's text an error message quotes.
_QUOTE_LIMIT = 200


@dataclass(frozen=True)
class RootRequirement:
    """One requirement (or constraint) as the user wrote it.

    Attributes:
        requirement: the parsed PEP 508 requirement.
        origin: where it came from, for error messages (``reqs.txt:3``).
        sha256: the ``#sha256=`` fragment of a direct URL reference, lowercase.
        hashes: the ``--hash=sha256:…`` values of its line (pip's hash-checking mode), lowercase.
    """

    requirement: Requirement
    origin: str
    sha256: str | None = None
    hashes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The PEP 503 normalised project name."""
        return canonicalize_name(self.requirement.name)

    def __str__(self) -> str:
        return str(self.requirement)


@dataclass(frozen=True)
class LocalSpec:
    """A local or VCS source as the user wrote it (``.``, ``-e ./lib``, ``name @ file:///…``,
    ``git+https://…@rev``, a bare archive URL). Nothing is read at parse time:
    :func:`mach_nix.local_projects.materialize` reads its metadata and makes it a requirement.

    Attributes:
        kind: ``"local"`` (a directory or an archive on disk), ``"url"`` (an archive URL) or
            ``"vcs"`` (a git repository).
        location: ``local``: the path (absolute, or relative to the current directory);
            ``url``: the URL without its fragment; ``vcs``: the repository URL without
            ``git+``, ``@rev`` and fragment.
        origin: where it was written (``reqs.txt:3``).
        name: the name given (``name @ …``, ``#egg=name``), else ``None`` (read from the source).
        extras: normalised extras (``.[test]``).
        marker: its environment marker, or ``None``.
        editable: written with ``-e``.
        rev: ``vcs``: the revision after ``@`` (a commit, tag or branch), else ``None`` (HEAD).
        subdirectory: the ``#subdirectory=`` fragment.
        sha256: the ``#sha256=`` fragment.
        hashes: ``--hash=sha256:…`` values of its line.
    """

    kind: str
    location: str
    origin: str
    name: str | None = None
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None
    editable: bool = False
    rev: str | None = None
    subdirectory: str | None = None
    sha256: str | None = None
    hashes: tuple[str, ...] = ()


@dataclass
class RequirementSet:
    """Everything read from the user's input files.

    Attributes:
        requirements: the root requirements, in input order.
        constraints: ``-c`` constraints (restrict versions, never add packages).
        pre: ``--pre`` was given: pre-releases are allowed everywhere.
        local: local and VCS sources (see :class:`LocalSpec`), in input order.
        require_hashes: ``--require-hashes`` was given, or some line has ``--hash``.
        only_binary / no_binary: normalised names (or ``:all:``) of ``--only-binary`` /
            ``--no-binary``, with the line that named them.
        index_urls: ``(line, URL)`` of every ``--index-url``, for the caller to compare
            with the registry in use.
        notes: warnings about ignored options, for the caller to print.
    """

    requirements: list[RootRequirement] = field(default_factory=list)
    constraints: list[RootRequirement] = field(default_factory=list)
    pre: bool = False
    local: list[LocalSpec] = field(default_factory=list)
    require_hashes: bool = False
    only_binary: dict[str, str] = field(default_factory=dict)
    no_binary: dict[str, str] = field(default_factory=dict)
    index_urls: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: RequirementSet) -> None:
        """Append the contents of ``other``."""
        self.requirements.extend(other.requirements)
        self.constraints.extend(other.constraints)
        self.pre = self.pre or other.pre
        self.local.extend(other.local)
        self.require_hashes = self.require_hashes or other.require_hashes
        for name, where in other.only_binary.items():
            self.only_binary.setdefault(name, where)
        for name, where in other.no_binary.items():
            self.no_binary.setdefault(name, where)
        self.index_urls.extend(other.index_urls)
        self.notes.extend(other.notes)


def parse_requirement(text: str, origin: str = "<argument>", hashes: tuple[str, ...] = ()) -> RootRequirement:
    """Parse one PEP 508 requirement (``name[extras] spec ; marker`` or ``name @ URL``).

    Raises:
        UsageError: the text is not a requirement mach-nix can use.
    """
    text = text.strip()
    if text.startswith("-"):
        option = text.split(None, 1)[0].split("=", 1)[0]
        reason = _REJECTED_OPTIONS.get(option) or _IGNORED_OPTIONS.get(option) or "not a requirement"
        raise UsageError(f"{origin}: pip option {quote(option)} is not a requirement: {reason}")
    try:
        requirement = Requirement(text)
    except (InvalidRequirement, InvalidSpecifier, ValueError, RecursionError) as error:
        # packaging raises InvalidSpecifier (not InvalidRequirement) for e.g. "a===,b", and
        # RecursionError for markers nested hundreds of parentheses deep
        raise UsageError(f"{origin}: invalid requirement {quote(text)}: {_explain_invalid(text, error)}") from None
    sha256 = None
    if requirement.url is not None:
        sha256 = _check_url(requirement.url, origin)
    return RootRequirement(requirement=requirement, origin=origin, sha256=sha256, hashes=hashes)


def parse_line(
    text: str, origin: str = "<argument>", base_dir: Path | None = None, *, editable: bool = False
) -> RootRequirement | LocalSpec:
    """One requirement line (or command-line argument): a PEP 508 requirement, or a local or
    VCS source (:class:`LocalSpec`), with its ``--hash`` options.

    Args:
        base_dir: what relative paths are relative to (the including file's directory;
            default: the current directory).
        editable: the line was ``-e TEXT``: it must be a local or VCS source.

    Raises:
        UsageError: not a requirement, or a per-line option other than ``--hash``.
    """
    text, hashes = _line_options(text.strip(), origin)
    local = _local_spec(text, origin, base_dir, editable, hashes)
    if local is not None:
        return local
    if editable:
        raise UsageError(
            f"{origin}: -e {quote(text)}: an editable install needs a local directory ('-e ./path') or a VCS URL"
            " ('-e git+https://…#egg=name')"
        )
    return parse_requirement(text, origin, hashes)


def _line_options(text: str, origin: str) -> tuple[str, tuple[str, ...]]:
    """Split ``req --hash=sha256:… --hash sha256:…`` into the requirement and its hashes.

    Raises:
        UsageError: another per-line option, or a hash that is not ``sha256:<64 hex digits>``.
    """
    match = re.search(r"(^|\s)--?[A-Za-z]", text)
    if match is None or text.startswith("-"):
        return text, ()
    head, tail = text[: match.start()].strip(), text[match.start() :].split()
    hashes: list[str] = []
    index = 0
    while index < len(tail):
        token = tail[index]
        option, sep, value = token.partition("=")
        if option != "--hash":
            reason = _REJECTED_OPTIONS.get(option) or "not an option of a requirement line (only --hash is)"
            raise UsageError(f"{origin}: per-requirement pip option {quote(option)} is not supported: {reason}")
        if not sep:
            index += 1
            value = tail[index] if index < len(tail) else ""
        algorithm, _, digest = value.partition(":")
        digest = digest.lower()
        if algorithm != "sha256":
            raise UsageError(f"{origin}: --hash {quote(value)}: only sha256 hashes are supported (--hash=sha256:…)")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise UsageError(f"{origin}: --hash {quote(value)} is not 'sha256:' and 64 hexadecimal digits")
        if digest not in hashes:
            hashes.append(digest)
        index += 1
    return head, tuple(hashes)


def _local_spec(
    text: str, origin: str, base_dir: Path | None, editable: bool, hashes: tuple[str, ...]
) -> LocalSpec | None:
    """``text`` as a local or VCS source, or ``None`` when it is a PEP 508 requirement (an
    ``https://`` direct reference stays one: the database may know its file)."""
    lowered = text.lower()
    name: str | None = None
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None
    if re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@", text):  # name @ URL
        try:
            requirement = Requirement(text)
        except (InvalidRequirement, InvalidSpecifier, ValueError, RecursionError):
            return None  # parse_requirement explains it
        assert requirement.url is not None
        try:
            scheme = urlsplit(requirement.url).scheme.lower()
        except ValueError:
            return None  # parse_requirement explains it
        if not (scheme == "file" or "+" in scheme or editable):
            return None
        name, location = requirement.name, requirement.url
        extras = frozenset(canonicalize_name(e) for e in requirement.extras)
        marker = requirement.marker
    else:
        looks_local = lowered.startswith((".", "/", "~/", "file:", *_VCS_PREFIXES)) or (
            lowered.startswith(("https://", "http://")) and " " not in text.split(";", 1)[0].strip()
        )
        if not looks_local and not editable and not re.match(r"[^\s;<>=!~\[]*/", text):
            return None
        location, _, marker_text = text.partition(";") if "://" not in text else _split_url_marker(text)
        location = location.strip()
        if marker_text.strip():
            try:
                marker = Marker(marker_text.strip())
            except InvalidMarker as error:
                reason = (str(error).splitlines() or ["invalid"])[0]
                raise UsageError(f"{origin}: invalid marker {quote(marker_text.strip())}: {reason}") from None
        found = re.fullmatch(r"(.*?)\[([^\]]*)\]", location)
        if found and "://" not in location:
            location = found.group(1)
            extras = frozenset(canonicalize_name(e.strip()) for e in found.group(2).split(",") if e.strip())
    return _spec_of(location, origin, base_dir, name, extras, marker, editable, hashes)


def _split_url_marker(text: str) -> tuple[str, str, str]:
    """``URL ; marker`` (pip needs a blank before the ``;`` of a URL)."""
    match = re.search(r"\s;", text)
    if match is None:
        return text, "", ""
    return text[: match.start()], ";", text[match.end() :]


def _spec_of(
    location: str,
    origin: str,
    base_dir: Path | None,
    name: str | None,
    extras: frozenset[str],
    marker: Marker | None,
    editable: bool,
    hashes: tuple[str, ...],
) -> LocalSpec:
    """The :class:`LocalSpec` of a path or URL (``location``)."""
    if not location:
        raise UsageError(f"{origin}: empty path")
    shown = quote(location)
    lowered = location.lower()
    base = base_dir if base_dir is not None else Path(".")
    location, _, fragment = location.partition("#")
    fields = dict(item.partition("=")[::2] for item in fragment.split("&") if item)
    egg = fields.get("egg") or None
    subdirectory = fields.get("subdirectory") or None
    if subdirectory is not None and (subdirectory.startswith("/") or ".." in subdirectory.split("/")):
        raise UsageError(f"{origin}: #subdirectory={quote(subdirectory)} must be a path inside the source")
    name = name or (egg.split("[", 1)[0] if egg else None)
    if name is not None:
        name = canonicalize_name(name)
    common = dict(origin=origin, name=name, extras=extras, marker=marker, editable=editable, hashes=hashes)
    if lowered.startswith(_VCS_PREFIXES):
        if not lowered.startswith("git+"):
            raise UsageError(f"{origin}: {shown}: only git repositories are supported ('git+https://…@REV')")
        url = location[len("git+") :]
        try:
            parts = urlsplit(url)
        except ValueError as error:
            raise UsageError(f"{origin}: invalid URL {shown}: {error}") from None
        if parts.scheme not in ("https", "http", "ssh", "git", "file"):
            raise UsageError(f"{origin}: {shown}: use git+https://, git+ssh:// or git+file://")
        repo_path, at, rev = parts.path.rpartition("@")
        if not at:
            repo_path, rev = parts.path, ""
        repository = parts._replace(path=repo_path, fragment="", query=parts.query).geturl()
        return LocalSpec("vcs", repository, rev=rev or None, subdirectory=subdirectory, **common)  # type: ignore[arg-type]
    if lowered.startswith(("https://", "http://")):
        sha256 = _check_url(location + (f"#{fragment}" if fragment else ""), origin)
        return LocalSpec("url", location, subdirectory=subdirectory, sha256=sha256, **common)  # type: ignore[arg-type]
    sha256 = None
    if lowered.startswith("file:"):
        sha256 = _check_url(location + (f"#{fragment}" if fragment else ""), origin)
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"{origin}: {shown}: a file: URL of another host; copy the file here")
        path = Path(unquote(parts.path))
    else:
        path = Path(location)
    if str(path).startswith("~"):
        try:
            path = path.expanduser()
        except RuntimeError:  # no home directory
            raise UsageError(f"{origin}: cannot expand {shown}: no home directory; write the full path") from None
    if not path.is_absolute():
        path = base / path
    return LocalSpec(
        "local",
        os.path.normpath(str(path)),
        subdirectory=subdirectory,
        sha256=sha256,
        **common,  # type: ignore[arg-type]
    )


def parse_dependency(text: str) -> Requirement | None:
    """Parse a ``Requires-Dist`` string of package metadata; ``None`` when it is invalid.

    Metadata is not the user's input: an invalid entry is skipped (and counted
    or warned about by the caller), never an error.
    """
    try:
        return Requirement(text)
    except (InvalidRequirement, InvalidSpecifier, ValueError, RecursionError):
        return None


def coerce_requirements(requirements: RequirementSet | Sequence[str] | str) -> RequirementSet:
    """Accept a :class:`RequirementSet`, a list of PEP 508 strings, or requirements.txt text."""
    if isinstance(requirements, RequirementSet):
        return requirements
    if isinstance(requirements, str):
        return parse_requirements_text(requirements)
    result = RequirementSet()
    for index, text in enumerate(requirements):
        add_line(result, text, f"<requirement {index + 1}>")
    return result


def add_line(result: RequirementSet, text: str, origin: str, base_dir: Path | None = None) -> None:
    """Add one requirement or local source (a command-line argument) to ``result``."""
    parsed = parse_line(text, origin, base_dir)
    if isinstance(parsed, LocalSpec):
        result.local.append(parsed)
    else:
        result.requirements.append(parsed)
    if parsed.hashes:
        result.require_hashes = True


def _explain_invalid(text: str, error: Exception) -> str:
    """A helpful reason why ``text`` is not a requirement."""
    if " --" in text or re.search(r"\s-[a-zA-Z]\b", text):
        return "per-requirement pip options other than --hash are not supported"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    lines = str(error).splitlines()
    first_line = lines[0] if lines else type(error).__name__
    return first_line if len(first_line) <= _QUOTE_LIMIT else first_line[:_QUOTE_LIMIT] + "…"


def _check_url(url: str, origin: str) -> str | None:
    """Validate a direct reference URL; return its ``#sha256=`` fragment if any."""
    shown = quote(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (validates the port: urlsplit alone does not)
    except ValueError as error:
        raise UsageError(f"{origin}: invalid URL {shown}: {error}") from None
    scheme = parts.scheme.lower()
    if "+" in scheme:
        raise UsageError(f"{origin}: VCS reference {shown}: write it as 'git+https://…@REV' (git only)")
    if scheme not in ("https", "http", "file"):
        raise UsageError(f"{origin}: unsupported URL scheme in {shown} (use https://…#sha256=…)")
    if scheme != "file" and not parts.hostname:
        raise UsageError(f"{origin}: URL {shown} has no host (use https://HOST/…#sha256=…)")
    sha256 = None
    for item in parts.fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "sha256":
            value = value.lower()
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise UsageError(f"{origin}: invalid sha256 fragment in {shown}")
            if sha256 is not None and value != sha256:
                raise UsageError(f"{origin}: two different '#sha256=' fragments in {shown}")
            sha256 = value
        elif key in ("md5", "sha1", "sha224", "sha384", "sha512"):
            raise UsageError(f"{origin}: only '#sha256=' hashes are supported in {shown}")
    return sha256


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Yield ``(first line number, line)`` after joining continuations and dropping comments."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = raw
        if line.endswith("\\") and not line.lstrip().startswith("#"):
            buffer.append(line[:-1])
            continue
        buffer.append(line)
        joined = _strip_comment("".join(buffer)).strip()
        buffer = []
        if joined:
            yield start, joined
    if buffer:
        joined = _strip_comment("".join(buffer)).strip()
        if joined:
            yield start, joined


def _strip_comment(line: str) -> str:
    """``line`` without its comment: from the first ``#`` that starts the line or follows
    whitespace (pip's rule), in one pass (a regex over long runs of blanks is quadratic)."""
    index = line.find("#")
    while index > 0 and not line[index - 1].isspace():
        index = line.find("#", index + 1)
    return line if index < 0 else line[:index]


def shown_path(text: str) -> str:
    """A file name for messages: as it is, unless it is very long or not printable."""
    return text if len(text) <= _QUOTE_LIMIT and text.isprintable() else quote(text)


def quote(text: str) -> str:
    """``repr(text)``, cut to a few hundred characters, for error messages."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return f"{text[:_QUOTE_LIMIT]!r}… ({len(text)} characters)"


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
    shown = shown_path(origin)
    problems: list[str] = []
    for number, line in _logical_lines(text):
        where = f"{shown}:{number}"
        try:
            _parse_line_into(result, line, where, base, origin, as_constraints, _stack)
        except UsageError as error:
            problems.append(error.message)
    if problems:
        shown_problems: list[str] = []
        for problem in problems[:_MAX_PROBLEMS]:  # a handful, and one line of bounded length
            if shown_problems and sum(len(p) + 2 for p in shown_problems) + len(problem) > _MAX_PROBLEMS_CHARS:
                break
            shown_problems.append(problem)
        more = len(problems) - len(shown_problems)
        raise UsageError("; ".join(shown_problems) + (f"; (and {more} more)" if more > 0 else ""))
    return result


#: At most this many refused lines of one file are shown.
_MAX_PROBLEMS = 20
#: ... and only as many as fit in this many characters.
_MAX_PROBLEMS_CHARS = 700


def _parse_line_into(
    result: RequirementSet,
    line: str,
    where: str,
    base: Path,
    origin: str,
    as_constraints: bool,
    stack: tuple[Path, ...],
) -> None:
    """Parse one logical line of a requirements file into ``result`` (see :func:`parse_requirements_text`)."""
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
                _stack=stack,
                _where=where,
            )
            result.extend(included)
            return
        if option in ("--pre", "--require-hashes"):
            if argument:
                raise UsageError(f"{where}: {option} takes no argument (got {quote(argument)})")
            if option == "--pre":
                result.pre = True
            else:
                result.require_hashes = True
            return
        if option in ("-e", "--editable"):
            if not argument:
                raise UsageError(f"{where}: {option} needs a path or VCS URL (-e ., -e ./lib, -e git+https://…)")
            if as_constraints:
                raise UsageError(f"{where}: constraints cannot be editable sources")
            parsed = parse_line(argument, where, base, editable=True)
            assert isinstance(parsed, LocalSpec)
            result.local.append(parsed)
            return
        if option in ("--only-binary", "--no-binary"):
            _binary_option(result, option, argument, where)
            return
        if option in _INDEX_OPTIONS:
            if not argument:
                raise UsageError(f"{where}: {option} needs a URL")
            result.index_urls.append((where, argument))
            return
        if option in _IGNORED_OPTIONS:
            result.notes.append(f"{where}: ignoring {option}: {_IGNORED_OPTIONS[option]}")
            return
        if option in _REJECTED_OPTIONS:
            raise UsageError(f"{where}: pip option {quote(option)} is not supported: {_REJECTED_OPTIONS[option]}")
        raise UsageError(f"{where}: pip option {quote(option)} is not supported: unknown option ({OPTION_RULES})")
    parsed = parse_line(line, where, base)
    if isinstance(parsed, LocalSpec):
        if as_constraints:
            raise UsageError(f"{where}: constraints cannot be local or VCS sources ({line})")
        result.local.append(parsed)
        if parsed.hashes:
            result.require_hashes = True
        return
    if parsed.hashes:
        result.require_hashes = True
    if as_constraints:
        _check_constraint(parsed, where)
        result.constraints.append(parsed)
    else:
        result.requirements.append(parsed)


def _binary_option(result: RequirementSet, option: str, argument: str, where: str) -> None:
    """``--only-binary`` / ``--no-binary`` NAMES: a comma list of names, ``:all:`` or ``:none:``."""
    if not argument:
        raise UsageError(f"{where}: {option} needs names, :all: or :none: (e.g. {option} :all:)")
    own, other = (
        (result.only_binary, result.no_binary)
        if option == "--only-binary"
        else (
            result.no_binary,
            result.only_binary,
        )
    )
    for item in argument.replace(",", " ").split():
        if item == ":none:":
            own.clear()
            continue
        if item != ":all:":
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", item):
                raise UsageError(f"{where}: {option} {quote(item)} is not a project name")
            item = canonicalize_name(item)
        own[item] = where
        other.pop(item, None)


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


def _file_kind(mode: int) -> str:
    """What a non-regular file is, for error messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (a named pipe, or a shell's <(…))"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _is_devnull(info: os.stat_result) -> bool:
    """Whether ``info`` is that of the null device."""
    if not stat.S_ISCHR(info.st_mode):
        return False
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(null.st_mode) and info.st_rdev == null.st_rdev


def read_input_file(path: str | os.PathLike[str], what: str, shown: str | None = None) -> bytes:
    """The bytes of an input file: a regular file of at most :data:`MAX_INPUT_BYTES`.

    Args:
        path: the file.
        what: what it is, for messages (``requirements file``).
        shown: its name in messages (default: ``path``).

    Raises:
        UsageError: missing or unreadable, not a regular file (a FIFO, a device, a
            directory: never opened for reading, so nothing can block), or too large.
    """
    shown = shown_path(shown if shown is not None else str(path))
    fix = "mach-nix reads inputs only from regular files: save it to a file first"
    try:
        info = os.stat(path)
        if _is_devnull(info):
            return b""  # the usual "empty file" of scripts: safe to read
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{what} {shown} is {_file_kind(info.st_mode)}; {fix}")
        # O_NONBLOCK: if a FIFO replaced the file since the stat, opening it does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as error:  # ValueError: an embedded NUL byte
        raise UsageError(f"cannot read {what} {shown}: {getattr(error, 'strerror', None) or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(f"{what} {shown} is {_file_kind(mode)}; {fix}")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_INPUT_BYTES:
            chunk = os.read(fd, MAX_INPUT_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise UsageError(f"cannot read {what} {shown}: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if size > MAX_INPUT_BYTES:
        raise UsageError(f"{what} {shown} is larger than {MAX_INPUT_BYTES >> 20} MiB, the most mach-nix reads")
    return b"".join(chunks)


def decode_requirements(data: bytes, shown: str) -> str:
    """Decode a requirements file as pip does, except that the fallback is UTF-8, never the
    locale's encoding: a byte-order mark (UTF-8, UTF-16, UTF-32), else a
    ``# -*- coding: NAME -*-`` declaration in the first two lines, else UTF-8.

    Raises:
        UsageError: the bytes are not text in that encoding, or the declared encoding is unknown.
    """
    encoding = "utf-8"
    for bom, codec in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], codec
            break
    else:
        for line in data.split(b"\n", 2)[:2]:
            match = _CODING.match(line)
            if match:
                encoding = match.group(1).decode("ascii")
                break
    name = encoding.upper() if encoding.startswith("utf") else encoding
    try:
        text = data.decode(encoding)
    except LookupError:  # unknown, or not a text encoding (rot13, zlib)
        raise UsageError(f"{shown}: unknown text encoding {quote(encoding)} in its coding declaration") from None
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{shown} is not {name} text (byte {data[error.start]:#04x} at offset {error.start}): "
            "save it as UTF-8 (or UTF-16 with a byte-order mark)"
        ) from None
    except (UnicodeError, ValueError, TypeError) as error:
        raise UsageError(f"{shown} cannot be decoded as {name}: {error}") from None
    if "\x00" in text:
        raise UsageError(f"{shown} contains NUL characters (UTF-16 without a byte-order mark?): save it as UTF-8")
    return text


def parse_requirements_file(
    path: str | os.PathLike[str],
    *,
    as_constraints: bool = False,
    display: str | None = None,
    _stack: tuple[Path, ...] = (),
    _where: str | None = None,
) -> RequirementSet:
    """Read and parse a requirements file (``-r``/``-c`` includes followed).

    The file is read by :func:`read_input_file` and decoded by :func:`decode_requirements`.

    Raises:
        UsageError: the file cannot be read, includes itself, or has a bad line.
    """
    path = Path(path)
    shown = display or str(path)
    prefix = f"{_where}: " if _where else ""
    what = "constraints file" if as_constraints else "requirements file"
    try:
        key = path.resolve()
    except (OSError, ValueError, RuntimeError) as error:  # an embedded NUL byte; a symlink loop
        raise UsageError(f"{prefix}cannot read {quote(shown)}: {getattr(error, 'strerror', None) or error}") from None
    if key in _stack:
        raise UsageError(f"{prefix}{shown_path(shown)} includes itself (through -r/-c)")
    try:
        text = decode_requirements(read_input_file(path, what, shown), shown_path(shown))
    except UsageError as error:
        raise UsageError(prefix + error.message) from None
    return parse_requirements_text(text, shown, path.parent, as_constraints=as_constraints, _stack=(*_stack, key))


def _load_toml(path: Path, shown: str) -> dict:
    """Read a pyproject.toml (UTF-8, as TOML requires; a byte-order mark is skipped)."""
    import tomllib  # only here: most commands never read TOML

    data = read_input_file(path, "pyproject file", shown)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UsageError(f"{shown} is UTF-16 or UTF-32 text (it starts with a byte-order mark): save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{shown} is not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start}): "
            "TOML files are UTF-8; save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{shown}: invalid TOML: {error}") from None
    except RecursionError:
        raise UsageError(f"{shown}: invalid TOML: arrays or tables nested too deeply") from None


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
    shown = shown_path(display or str(path))
    data = _load_toml(path, shown)
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise UsageError(f"{shown}: [project] must be a table")
    dynamic = project.get("dynamic", [])
    if not isinstance(dynamic, list) or not all(isinstance(item, str) for item in dynamic):
        raise UsageError(f'{shown}: [project] dynamic must be an array of field names, e.g. dynamic = ["version"]')
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
                raise UsageError(f"{shown}: optional-dependencies are dynamic; cannot read extra {quote(extra)}")
            raise UsageError(f"{shown}: unknown extra {quote(extra)} (known extras: {_known(optional)})")
        where = f"{shown} [project.optional-dependencies.{_toml_key(key)}]"
        result.requirements += _requirement_list(optional[key], where)
    all_groups = data.get("dependency-groups", {})
    if not isinstance(all_groups, dict):
        raise UsageError(f"{shown}: [dependency-groups] must be a table")
    for group in groups:
        result.requirements += _group_requirements(all_groups, group, shown, ())
    return result


def _toml_key(key: str) -> str:
    """A TOML key as written in a file: bare if it can be, else quoted (and cut)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]{1,100}", key) else quote(key)


def _known(names: Iterable[str]) -> str:
    """A short list of names for "known …" hints (the first ten, sorted)."""
    ordered = sorted(names)
    shown = ", ".join(_toml_key(name) for name in ordered[:10])
    if len(ordered) > 10:
        shown += f", … ({len(ordered)} in all)"
    return shown or "none"


def _requirement_list(items: object, where: str) -> list[RootRequirement]:
    """Parse a TOML array of PEP 508 strings."""
    if not isinstance(items, list):
        raise UsageError(f"{where}: expected an array of requirement strings")
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise UsageError(f"{where}[{index}]: expected a requirement string, got {quote(repr(item))}")
        result.append(parse_requirement(item, f"{where}[{index}]"))
    return result


def _group_requirements(groups: dict, name: str, shown: str, stack: tuple[str, ...]) -> list[RootRequirement]:
    """Expand one PEP 735 dependency group (with ``include-group``)."""
    by_name = {canonicalize_name(key): key for key in groups}
    key = by_name.get(canonicalize_name(name))
    if key is None:
        raise UsageError(f"{shown}: unknown dependency group {quote(name)} (known groups: {_known(groups)})")
    if canonicalize_name(key) in stack:
        raise UsageError(f"{shown}: dependency group {quote(key)} includes itself")
    items = groups[key]
    where = f"{shown} [dependency-groups.{_toml_key(key)}]"
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
