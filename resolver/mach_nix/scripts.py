"""PEP 723 inline script metadata: the ``# /// script`` block of a single-file script.

:func:`read_script` reads a script and returns its :class:`ScriptMetadata`: the
``dependencies`` (PEP 508 requirements, each with the script line it was written on as
its origin) and ``requires-python``. The grammar is the specification's (packaging.python.org,
"Inline script metadata"):

* a block starts with the line ``# /// TYPE`` (``TYPE`` of ASCII letters, digits and
  hyphens) and ends with the line ``# ///``; every line between is a comment, ``#``
  alone or ``#`` followed by a space; the content is each line without its first two
  characters (one, for a bare ``#``);
* the end is the *last* ``# ///`` of the run of comment lines that follows the start
  (an ending line is one that the next line does not continue);
* an unclosed block is ignored, as the specification requires; only blocks of type
  ``script`` are read (other types are not standardised: left alone);
* two ``script`` blocks, or a start line inside an open block, are errors;
* the content is TOML with the keys ``dependencies`` (a list of PEP 508 strings),
  ``requires-python`` (a PEP 440 specifier) and ``[tool]`` (ignored: other tools'
  settings). Any other key is an error (most likely a misspelt ``dependencies``).

The file is decoded as requirements files are (a byte-order mark, else a
``# -*- coding: … -*-`` declaration, else UTF-8). Every problem is a
:class:`~mach_nix.errors.UsageError` that names the script and the line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from mach_nix.errors import UsageError
from mach_nix.platforms import DEFAULT_PATCH
from mach_nix.requirements import RootRequirement, decode_requirements, parse_requirement, read_input_file

#: A block's first line: ``# /// TYPE``.
_START = re.compile(r"# /// ([a-zA-Z0-9-]+)")
#: A line of a block's content: ``#`` alone, or ``#`` and a space.
_CONTENT = re.compile(r"#(| .*)")
#: A block's last line.
_END = "# ///"
#: The keys of a ``script`` block.
KNOWN_KEYS = ("dependencies", "requires-python", "tool")


@dataclass
class ScriptMetadata:
    """What a script's ``# /// script`` block says.

    Attributes:
        path: the script.
        dependencies: its requirements, in order, each with ``script.py:LINE`` as origin.
        requires_python: its ``requires-python``, or ``None``.
        requires_python_line: the line ``requires-python`` was written on (for messages).
        block: ``(first, last)`` line numbers of the block (1-based), or ``None`` without one.
    """

    path: Path
    dependencies: list[RootRequirement] = field(default_factory=list)
    requires_python: SpecifierSet | None = None
    requires_python_line: int | None = None
    block: tuple[int, int] | None = None


def find_blocks(lines: list[str]) -> list[tuple[str, int, int]]:
    """The metadata blocks of a script's lines: ``(type, start, end)``, 0-based indices of
    the start and end lines. Unclosed blocks are left out.

    Raises:
        ValueError: a start line inside an open block (its 0-based index is ``args[1]``).
    """
    blocks: list[tuple[str, int, int]] = []
    index = 0
    while index < len(lines):
        start = _START.fullmatch(lines[index])
        if start is None:
            index += 1
            continue
        end = None
        cursor = index + 1
        while cursor < len(lines) and _CONTENT.fullmatch(lines[cursor]):
            if lines[cursor] == _END:
                end = cursor
            cursor += 1
        if end is None:  # unclosed: ignored, as the specification says
            index += 1
            continue
        for inner in range(index + 1, end):
            if _START.fullmatch(lines[inner]):
                raise ValueError("a start line inside an open block", inner)
        blocks.append((start.group(1), index, end))
        index = end + 1
    return blocks


def _line_of(lines: list[str], first: int, last: int, needle: str, default: int) -> int:
    """The 1-based line of the block (indices ``first`` to ``last``) that holds ``needle``,
    quoted as a TOML string if some line has it so, else ``default``."""
    for candidate in (f'"{needle}"', f"'{needle}'", needle):
        for index in range(first, last + 1):
            if candidate in lines[index]:
                return index + 1
    return default


def parse_script(text: str, path: Path, shown: str | None = None) -> ScriptMetadata:
    """The metadata of a script's text (see the module docstring).

    Raises:
        UsageError: a malformed ``script`` block, naming ``shown`` (default: ``path``) and the line.
    """
    shown = shown or str(path)
    lines = text.splitlines()
    try:
        blocks = [b for b in find_blocks(lines) if b[0] == "script"]
    except ValueError as error:
        line = error.args[1] + 1
        raise UsageError(
            f"{shown}:{line}: a `# /// {_START.fullmatch(lines[line - 1]).group(1)}` line inside "  # type: ignore[union-attr]
            "an open metadata block; close the block first with a line `# ///`"
        ) from None
    if not blocks:
        return ScriptMetadata(path=path)
    if len(blocks) > 1:
        first, second = blocks[0][1] + 1, blocks[1][1] + 1
        raise UsageError(f"{shown}:{second}: a second `# /// script` block (the first is at line {first}); keep one")
    _type, start, end = blocks[0]
    content = "".join((line[2:] if line.startswith("# ") else line[1:]) + "\n" for line in lines[start + 1 : end])
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = start + 1 + int(where.group(1)) if where else start + 1
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
        raise UsageError(f"{shown}:{line}: the `# /// script` block is not valid TOML: {reason}") from None
    block_line = start + 1
    unknown = [key for key in data if key not in KNOWN_KEYS]
    if unknown:
        line = _line_of(lines, start + 1, end - 1, unknown[0], block_line)
        raise UsageError(
            f"{shown}:{line}: unknown key {unknown[0]!r} in the `# /// script` block; "
            f"the keys are {', '.join(KNOWN_KEYS)} (PEP 723)"
        )
    metadata = ScriptMetadata(path=path, block=(start + 1, end + 1))
    dependencies = data.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        line = _line_of(lines, start + 1, end - 1, "dependencies", block_line)
        raise UsageError(
            f'{shown}:{line}: `dependencies` must be a list of strings, e.g. dependencies = ["requests<3"]'
        )
    searched = start + 1
    for dependency in dependencies:
        line = _line_of(lines, searched, end - 1, dependency, block_line)
        searched = max(searched, line - 1)
        metadata.dependencies.append(parse_requirement(dependency, f"{shown}:{line}"))
    if "requires-python" in data:
        value = data["requires-python"]
        line = _line_of(lines, start + 1, end - 1, "requires-python", block_line)
        if not isinstance(value, str):
            raise UsageError(f'{shown}:{line}: `requires-python` must be a string, e.g. requires-python = ">=3.11"')
        try:
            metadata.requires_python = SpecifierSet(value)
        except InvalidSpecifier:
            raise UsageError(
                f'{shown}:{line}: `requires-python` {value!r} is not a version specifier (e.g. ">=3.11")'
            ) from None
        metadata.requires_python_line = line
    return metadata


def read_script(path: str | Path) -> ScriptMetadata:
    """Read a script file and its ``# /// script`` block.

    Raises:
        UsageError: unreadable, not text, or a malformed block (naming the line).
    """
    path = Path(path)
    data = read_input_file(path, "script")
    return parse_script(decode_requirements(data, str(path)), path)


def check_python(metadata: ScriptMetadata, python: str) -> None:
    """Refuse a target Python (``X.Y.Z``) that the script's ``requires-python`` excludes,
    naming the newest Python minor mach-nix targets that it admits (at the patch level
    :data:`~mach_nix.platforms.DEFAULT_PATCH` assumes).

    Raises:
        UsageError: ``python`` does not satisfy ``requires-python``.
    """
    if metadata.requires_python is None or metadata.requires_python.contains(python, prereleases=True):
        return
    fitting = [
        f"3.{minor}"
        for minor, patch in DEFAULT_PATCH.items()
        if metadata.requires_python.contains(f"3.{minor}.{patch}", prereleases=True)
    ]
    hint = f"pass --python {fitting[-1]}" if fitting else "no Python mach-nix targets satisfies it"
    raise UsageError(
        f"{metadata.path}:{metadata.requires_python_line}: the script requires Python "
        f"{metadata.requires_python}, but the target is Python {python}; {hint}"
    )
