"""Parsing requirements.txt and pyproject.toml (mach_nix.requirements)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mach_nix.errors import UsageError
from mach_nix.requirements import (
    RequirementSet,
    parse_pyproject,
    parse_requirement,
    parse_requirements_file,
    parse_requirements_text,
)

SHA = "a" * 64


def names(result: RequirementSet) -> list[str]:
    return [r.name for r in result.requirements]


def test_pep508_lines_with_extras_markers_and_comments():
    text = """
# a comment
requests[socks, use_chardet_on_py3] >= 2.28  # trailing comment
Pillow; python_version >= "3.8"
ruamel.yaml>=0.17,<0.18
zope.interface===5.4.0
python_dateutil
"""
    result = parse_requirements_text(text, "reqs.txt")
    assert names(result) == ["requests", "pillow", "ruamel-yaml", "zope-interface", "python-dateutil"]
    first = result.requirements[0]
    assert first.requirement.extras == {"socks", "use_chardet_on_py3"}
    assert str(first.requirement.specifier) == ">=2.28"
    assert first.origin == "reqs.txt:3"
    assert str(result.requirements[1].requirement.marker) == 'python_version >= "3.8"'
    assert str(result.requirements[3].requirement.specifier) == "===5.4.0"


def test_backslash_continuation_keeps_first_line_number():
    result = parse_requirements_text("six\nrequests \\\n  >=2.0 \\\n  ; python_version>'3'\n", "r.txt")
    assert names(result) == ["six", "requests"]
    assert result.requirements[1].origin == "r.txt:2"
    assert str(result.requirements[1].requirement.specifier) == ">=2.0"


def test_comment_line_ending_in_backslash_is_not_a_continuation():
    result = parse_requirements_text("# note \\\nsix\n")
    assert names(result) == ["six"]


def test_direct_reference_with_sha256_fragment():
    line = f"six @ https://files.pythonhosted.org/packages/x/six-1.16.0-py2.py3-none-any.whl#sha256={SHA.upper()}"
    parsed = parse_requirement(line)
    assert parsed.sha256 == SHA
    assert parsed.requirement.url.startswith("https://")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("-e", "needs a path or VCS URL"),
        ("--extra-index-url=https://example.org/simple", "--extra-index-url"),
        ("requests==2.0 --hash=sha256:abcd", "64 hexadecimal digits"),
        ("requests==2.0 --hash=md5:abcd", "only sha256"),
        ("requests==2.0 --config-settings=x=1", "per-requirement pip option '--config-settings'"),
        ("-f ./wheels", "--find-links"),
        ("hg+https://example.org/repo", "only git"),
        ("requests @ svn+https://example.org/repo", "only git"),
        ("requests @ ftp://example.org/r.tar.gz", "scheme"),
        ("requests @ https://example.org/r.tar.gz#md5=abc", "sha256"),
        ("requests @ https://example.org/r.tar.gz#sha256=xyz", "sha256"),
        ("requests >= ", "invalid requirement"),
        ("--bogus", "unknown option"),
    ],
)
def test_unsupported_lines_name_the_line(line, fragment):
    with pytest.raises(UsageError) as info:
        parse_requirements_text(f"six\n{line}\n", "reqs.txt")
    message = str(info.value)
    assert "reqs.txt:2" in message
    assert fragment in message


def test_includes_are_relative_to_the_including_file(tmp_path: Path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "base.txt").write_text("six\n-c constraints.txt\n")
    (sub / "constraints.txt").write_text("six<2\nurllib3<2 ; python_version < '3.9'\n")
    (tmp_path / "reqs.txt").write_text("-r sub/base.txt\n--requirement=sub/more.txt\n")
    (sub / "more.txt").write_text("--pre\nidna\n")
    result = parse_requirements_file(tmp_path / "reqs.txt")
    assert names(result) == ["six", "idna"]
    assert [c.name for c in result.constraints] == ["six", "urllib3"]
    assert result.pre is True
    assert result.constraints[0].origin.endswith("constraints.txt:1")


def test_include_cycle_and_missing_file(tmp_path: Path):
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(UsageError, match="includes itself"):
        parse_requirements_file(tmp_path / "a.txt")
    (tmp_path / "c.txt").write_text("-r missing.txt\n")
    with pytest.raises(UsageError, match="c.txt:1: cannot read"):
        parse_requirements_file(tmp_path / "c.txt")


def test_constraints_reject_extras(tmp_path: Path):
    (tmp_path / "c.txt").write_text("requests[socks]<3\n")
    (tmp_path / "r.txt").write_text("-c c.txt\n")
    with pytest.raises(UsageError, match="constraints cannot have extras"):
        parse_requirements_file(tmp_path / "r.txt")


def test_pyproject_dependencies_extras_and_groups(tmp_path: Path):
    path = tmp_path / "pyproject.toml"
    path.write_text(
        """
[project]
name = "demo"
version = "1"
dependencies = ["requests>=2", "six"]
[project.optional-dependencies]
Socks = ["pysocks"]
yaml = ["ruamel.yaml"]
[dependency-groups]
test = ["pytest", {include-group = "lint"}]
lint = ["black"]
"""
    )
    result = parse_pyproject(path, extras=["socks"], groups=["Test"])
    assert names(result) == ["requests", "six", "pysocks", "pytest", "black"]
    with pytest.raises(UsageError, match="unknown extra 'nope'.*Socks, yaml"):
        parse_pyproject(path, extras=["nope"])
    with pytest.raises(UsageError, match="unknown dependency group"):
        parse_pyproject(path, groups=["docs"])


def test_pyproject_errors(tmp_path: Path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    with pytest.raises(UsageError, match="dynamic"):
        parse_pyproject(path)
    path.write_text('[dependency-groups]\na = [{include-group = "b"}]\nb = [{include-group = "a"}]\n')
    with pytest.raises(UsageError, match="includes itself"):
        parse_pyproject(path, groups=["a"])
    path.write_text("[project\n")
    with pytest.raises(UsageError, match="invalid TOML"):
        parse_pyproject(path)


# ----------------------------------------------------------------------------- fuzz

_pieces = st.sampled_from(
    [
        "requests",
        "Pillow",
        "ruamel.yaml",
        "a",
        "[",
        "]",
        "socks",
        ",",
        ">=",
        "==",
        "===",
        "~=",
        "!=",
        "<",
        "1.0",
        "2.*",
        "1.0a1",
        ";",
        " ",
        "python_version",
        "'3.8'",
        '"',
        "and",
        "or",
        "(",
        ")",
        "extra",
        "@",
        "https://x.org/a-1.0.tar.gz",
        "#sha256=",
        "#",
        "\\",
        "\n",
        "-r",
        "-c",
        "-e",
        "--hash",
        "--pre",
        "--index-url",
        "=",
        "x.txt",
        "sha256:",
        "requests===,requests",
        "\t",
        "é",
        "\x00",
        "[]",
        "git+",
        "file:///tmp/a.whl",
        "platform_machine",
        "in",
        "not",
        "-r a\x00",
        "http://[::1",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, max_size=14).map("".join))
def test_fuzz_parser_clear_error_or_parse(text: str):
    try:
        result = parse_requirements_text(text, "fuzz.txt", base_dir=Path("/nonexistent-mach-nix-fuzz"))
    except UsageError as error:
        assert str(error)
        return
    for item in result.requirements + result.constraints:
        assert item.name


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_parser_arbitrary_text(text: str):
    try:
        parse_requirements_text(text, "fuzz.txt", base_dir=Path("/nonexistent-mach-nix-fuzz"))
    except UsageError:
        pass
