"""PEP 723 inline script metadata (mach_nix/scripts.py): the specification's grammar, and
errors that name the script's line. The canonical regular expression of the specification is
the oracle for which block is found and what its content is."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from mach_nix.errors import UsageError
from mach_nix.scripts import check_python, parse_script, read_script
from nixhelpers import CLI, REPO

DB = str(REPO / "tests" / "data" / "pypi-db")

#: The specification's canonical regular expression (packaging.python.org, inline script metadata).
CANONICAL = r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"


def canonical(text: str) -> dict | None:
    """The specification's reference reader."""
    found = [m for m in re.finditer(CANONICAL, text) if m.group("type") == "script"]
    if not found:
        return None
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:] for line in found[0].group("content").splitlines(keepends=True)
    )
    return tomllib.loads(content)


def parse(text: str):
    return parse_script(text, Path("s.py"))


SCRIPTS = {
    "basic": '# /// script\n# requires-python = ">=3.11"\n# dependencies = [\n#   "requests<3",\n'
    '#   "rich",\n# ]\n# ///\nimport requests\n',
    "bare-hash-lines": '#!/usr/bin/env python3\n# /// script\n#\n# dependencies = ["six"]\n#\n# ///\nprint(1)\n',
    # The specification's example: `# ///` lines inside a TOML string; the last one ends the block.
    "end-precedence": '# /// script\n# dependencies = ["six"]\n# [tool.x]\n# text = """\n# /// <summary>\n# ///\n'
    '# """\n# ///\n',
    "tool-table": '# /// script\n# dependencies = []\n# [tool.uv]\n# exclude-newer = "2024-01-01"\n# ///\n',
    "other-type-first": '# /// other-thing\n# a = 1\n# ///\n\n# /// script\n# dependencies = ["idna"]\n# ///\n',
    "crlf": '# /// script\r\n# dependencies = ["six"]\r\n# ///\r\n',
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_blocks_agree_with_the_canonical_expression(name):
    text = SCRIPTS[name]
    expected = canonical(text.replace("\r\n", "\n"))
    metadata = parse(text)
    assert expected is not None
    assert [str(d.requirement) for d in metadata.dependencies] == expected.get("dependencies", [])
    assert (str(metadata.requires_python) if metadata.requires_python else None) == expected.get("requires-python")


def test_origins_name_the_lines_of_the_dependencies():
    metadata = parse(SCRIPTS["basic"])
    assert [d.origin for d in metadata.dependencies] == ["s.py:4", "s.py:5"]
    assert metadata.block == (1, 7) and metadata.requires_python_line == 2


@pytest.mark.parametrize(
    "text",
    [
        "import sys\nprint(sys.argv)\n",
        "# /// script\n# dependencies = ['six']\nprint('never closed')\n",  # unclosed: ignored
        "# /// scripts\n# dependencies = ['six']\n# ///\n",  # another type
        "#/// script\n# dependencies = ['six']\n# ///\n",  # not the start line's exact form
    ],
)
def test_no_block_means_no_dependencies(text):
    assert canonical(text) is None
    metadata = parse(text)
    assert metadata.dependencies == [] and metadata.requires_python is None and metadata.block is None


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("x = 1\n# /// script\n# dependencies = [\n#   'six',,\n# ]\n# ///\n", "s.py:4:", "not valid TOML"),
        (
            "# /// script\n# dependencies = ['six']\n# ///\n\n# /// script\n# dependencies = []\n# ///\n",
            "s.py:5:",
            "second",
        ),
        ("# /// script\n# dependency = ['six']\n# ///\n", "s.py:2:", "unknown key 'dependency'"),
        ("# /// script\n# dependencies = 'six'\n# ///\n", "s.py:2:", "must be a list of strings"),
        (
            "# /// script\n# dependencies = [\n#  'six',\n#  'requests >= ;',\n# ]\n# ///\n",
            "s.py:4:",
            "invalid requirement",
        ),
        ("# /// script\n# requires-python = '3.11 or newer'\n# ///\n", "s.py:2:", "not a version specifier"),
        ("# /// script\n# /// script\n# dependencies = []\n# ///\n", "s.py:2:", "inside an open metadata block"),
        ("# /// script\n# dependencies = ['six']\n# ///\n", None, None),
    ],
)
def test_malformed_blocks_name_the_line(text, where, words):
    if where is None:
        assert parse(text).dependencies[0].name == "six"
        return
    with pytest.raises(UsageError) as error:
        parse(text)
    assert str(error.value).startswith(where), str(error.value)
    assert words in str(error.value)


def test_requires_python_is_checked_against_the_target():
    metadata = parse('# /// script\n# requires-python = ">=3.12"\n# ///\n')
    check_python(metadata, "3.12.11")
    with pytest.raises(UsageError) as error:
        check_python(metadata, "3.11.13")
    assert "s.py:2:" in str(error.value) and "pass --python 3.14" in str(error.value)
    never = parse('# /// script\n# requires-python = "<3.0"\n# ///\n')
    with pytest.raises(UsageError, match="no Python mach-nix targets satisfies it"):
        check_python(never, "3.11.13")


def test_encoding_declaration_is_respected(tmp_path):
    script = tmp_path / "latin.py"
    script.write_bytes(
        '# -*- coding: latin-1 -*-\n# /// script\n# dependencies = ["six"]\n# ///\nx = "é"\n'.encode("latin-1")
    )
    assert read_script(script).dependencies[0].name == "six"


def test_lock_script_writes_beside_the_script(tmp_path):
    (tmp_path / "sub").mkdir()
    script = tmp_path / "sub" / "tool.py"
    script.write_text(SCRIPTS["bare-hash-lines"])
    base = [*CLI, "lock", "--script", str(script), "--db", DB, "--offline"]
    subprocess.run(base, cwd=tmp_path, capture_output=True, text=True, check=True)
    lock = (tmp_path / "sub" / "tool.py.lock.json").read_text()
    assert '"six"' in lock
    subprocess.run([*base, "--format", "pylock"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert 'name = "six"' in (tmp_path / "sub" / "pylock.tool.toml").read_text()
    # No block: a lock with no packages (the bare interpreter).
    bare = tmp_path / "bare.py"
    bare.write_text("print('hi')\n")
    subprocess.run([*CLI, "lock", "--script", str(bare), "--db", DB, "--offline"], capture_output=True, check=True)
    assert '"packages": {}' in (tmp_path / "bare.py.lock.json").read_text()
    # A malformed block: the error names the line, exit code 2, nothing written.
    broken = tmp_path / "broken.py"
    broken.write_text("# /// script\n# dependencies = [\n# ///\n")
    proc = subprocess.run([*CLI, "lock", "--script", str(broken), "--db", DB], capture_output=True, text=True)
    assert proc.returncode == 2 and f"{broken}:" in proc.stderr and "not valid TOML" in proc.stderr
    assert not (tmp_path / "broken.py.lock.json").exists()
