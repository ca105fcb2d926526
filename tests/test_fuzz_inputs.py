"""Bad input never gives a traceback: the input layer (requirements files, pyproject.toml,
the command line's values, the environment) answers every malformed input with one line
``mach-nix: error: …`` and an exit code of :class:`mach_nix.errors.ExitCode`.

Two halves: a corpus of the nastiest inputs found by fuzzing (plain regression tests,
each failed before its fix), then property-based tests with hypothesis over the
pyproject parser, the requirements parser and the command line's argument layer, on a
fixed budget (``max_examples``, ``deadline``) so that they take seconds in CI.
Inputs that could hang or exhaust the test process if a defence regressed (a FIFO,
``/dev/zero``) run in a subprocess with a timeout, never in-process.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import resource
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mach_nix import cli, entry
from mach_nix.errors import ExitCode, UsageError
from mach_nix.requirements import MAX_INPUT_BYTES, parse_pyproject, parse_requirements_file
from nixhelpers import CLI, REPO

SNAPSHOT = str(REPO / "tests" / "data" / "pypi-db")

#: Exit codes a bad input may give (a conflict and "not in the database" are answers too).
INPUT_CODES = {ExitCode.OK, ExitCode.USAGE, ExitCode.UNSATISFIABLE, ExitCode.NOT_FOUND}


@contextlib.contextmanager
def environment(changes: dict[str, str | None]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for key, value in changes.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(argv: list[str], env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """``mach-nix ARGV`` in this process (as the server runs it): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), environment(env or {}):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str, allowed: set[int] = INPUT_CODES) -> None:
    """An answer, not a crash: an allowed exit code, and on failure mach-nix's own error
    (one line for a usage error: conflicts and "not found" explain themselves at length)."""
    assert "Traceback" not in err, err
    assert code in allowed, (code, err)
    if code != ExitCode.OK:
        assert err.startswith("mach-nix: error: "), err
    if code == ExitCode.USAGE:
        assert len(err.strip().splitlines()) == 1, err
        assert len(err) < 1000, err


def usage_error_line(error: UsageError) -> None:
    assert error.message and "\n" not in error.message and len(error.message) < 1000, error.message


def _limit_memory() -> None:
    # should a defence regress, reading /dev/zero ends in a MemoryError, not in the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def subprocess_cli(*argv: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``mach-nix ARGV`` in a subprocess bounded in time and memory (for inputs that could hang)."""
    env = dict(os.environ, MACH_NIX_NO_SERVER="1")
    return subprocess.run(
        [*CLI, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


@pytest.fixture(autouse=True)
def bounded_memory() -> Iterator[None]:
    """Every test of this module runs with at most 3 GiB more address space than the process
    has: should a defence regress (an endless read, a tag list of a glibc 2.10**18), the test
    fails with a MemoryError instead of calling the OOM killer onto the machine's other work."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    size = int(next(line for line in status.splitlines() if line.startswith("VmSize:")).split()[1]) * 1024
    limit = size + (3 << 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- the corpus: regression tests -------------------------------------------------------

PYPROJECTS: dict[str, tuple[bytes, list[str], str]] = {
    # name: (pyproject.toml bytes, extra arguments, a fragment of the error)
    "not-utf8": (b"[project]\nname = '\xff'\n", [], "not UTF-8 text (byte 0xff at offset 18)"),
    "utf16": ("[project]\ndependencies = ['six']\n".encode("utf-16"), [], "save it as UTF-8"),
    "nested-arrays": (b"a = " + b"[" * 600 + b"]" * 600, [], "nested too deeply"),
    "nested-tables": (b"a = " + b"{b = " * 600 + b"1" + b"}" * 600, [], "nested too deeply"),
    "dynamic-true": (b"[project]\ndynamic = true\n", [], "dynamic must be an array"),
    "dynamic-string": (b"[project]\ndynamic = 'dependencies'\n", [], "dynamic must be an array"),
    "dynamic-ints": (b"[project]\ndynamic = [1]\n", [], "dynamic must be an array"),
    "deps-string": (b"[project]\ndependencies = 'six'\n", [], "expected an array of requirement strings"),
    "deps-int": (b"[project]\ndependencies = [1]\n", [], "expected a requirement string, got '1'"),
    "deps-newline": (b'[project]\ndependencies = ["six\\nsix"]\n', [], "invalid requirement 'six\\nsix'"),
    "project-array": (b"project = [1]\n", [], "[project] must be a table"),
    "optional-array": (b"[project]\noptional-dependencies = [1]\n", [], "must be a table"),
    "extra-int": (b"[project.optional-dependencies]\nx = 1\n", ["--extra", "x"], "expected an array"),
    "groups-int": (b"dependency-groups = 1\n", ["--group", "x"], "[dependency-groups] must be a table"),
    "include-int": (b"[dependency-groups]\nx = [{include-group = 1}]\n", ["--group", "x"], "include-group"),
    "group-loop": (b"[dependency-groups]\nx = [{include-group = 'x'}]\n", ["--group", "x"], "includes itself"),
    "nul": (b"[project]\ndependencies = ['six\x00']\n", [], "invalid TOML"),
    "weird-extra-key": (
        b'[project.optional-dependencies]\n"a\\nb" = [1]\n',
        ["--extra", "a\nb"],
        "[project.optional-dependencies.'a\\nb'][0]",
    ),
}


@pytest.mark.parametrize("name", sorted(PYPROJECTS))
def test_bad_pyproject_is_one_line_error(name: str, tmp_path: Path) -> None:
    data, extra_args, fragment = PYPROJECTS[name]
    (tmp_path / "pyproject.toml").write_bytes(data)
    code, _out, err = run(["resolve", "--db", SNAPSHOT, "--pyproject", str(tmp_path / "pyproject.toml"), *extra_args])
    assert_clean(code, err)
    assert code == ExitCode.USAGE and fragment in err, err


def test_pyproject_with_utf8_bom_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(codecs.BOM_UTF8 + b"[project]\ndependencies = ['six']\n")
    assert [r.name for r in parse_pyproject(tmp_path / "pyproject.toml").requirements] == ["six"]


REQUIREMENT_TEXT = "six>=1.10  # a comment\nidna; python_version >= '3'\n"


@pytest.mark.parametrize(
    "encoding, data",
    [
        ("utf-8 with BOM", codecs.BOM_UTF8 + REQUIREMENT_TEXT.encode()),
        ("utf-16 (BOM, little-endian)", codecs.BOM_UTF16_LE + REQUIREMENT_TEXT.encode("utf-16-le")),
        ("utf-16 (BOM, big-endian)", codecs.BOM_UTF16_BE + REQUIREMENT_TEXT.encode("utf-16-be")),
        ("utf-32 (BOM)", REQUIREMENT_TEXT.encode("utf-32")),
        (
            "latin-1 declared",
            "# -*- coding: latin-1 -*-\nsix>=1.10  # café\nidna; python_version >= '3'\n".encode("latin-1"),
        ),
    ],
)
def test_requirements_files_are_decoded_as_pip_does(encoding: str, data: bytes, tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_bytes(data)
    parsed = parse_requirements_file(tmp_path / "r.txt")
    assert [str(r) for r in parsed.requirements] == ["six>=1.10", 'idna; python_version >= "3"'], encoding


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"six # caf\xe9\n", "is not UTF-8 text (byte 0xe9 at offset 9): save it as UTF-8"),
        ("six\n".encode("utf-16-le"), "contains NUL characters (UTF-16 without a byte-order mark?)"),
        (b"# -*- coding: rot13 -*-\nsix\n", "unknown text encoding 'rot13'"),
        (b"# vim: set fileencoding=nope :\nsix\n", "unknown text encoding 'nope'"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "is not UTF-16-LE text"),  # a lone surrogate
    ],
)
def test_undecodable_requirements_file_is_one_line_error(data: bytes, fragment: str, tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_bytes(data)
    code, _out, err = run(["resolve", "--db", SNAPSHOT, "-r", str(tmp_path / "r.txt")])
    assert_clean(code, err)
    assert code == ExitCode.USAGE and fragment in err, err


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("six; " + "(" * 2000 + "python_version > '3'" + ")" * 2000, "nested"),
        ("--pre=1", "--pre takes no argument"),
        ("six @ https://example.org:99999/six.whl", "Port out of range"),
        ("six @ https:///six.whl", "has no host"),
        ("six @ https://x.org/six.whl#sha256=" + "a" * 64 + "&sha256=" + "b" * 64, "two different '#sha256='"),
        ("six==" + "1" * 300_000 + "x", "characters)"),  # the quote is cut, the length said
        ("-" + "x" * 300_000, "pip option '-x'"),
    ],
)
def test_bad_requirement_lines_are_short_one_line_errors(line: str, fragment: str, tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text(line + "\n")
    code, _out, err = run(["resolve", "--db", SNAPSHOT, "-r", str(tmp_path / "r.txt")])
    assert_clean(code, err)
    assert code == ExitCode.USAGE and fragment in err, err


def test_long_runs_of_blanks_parse_in_linear_time(tmp_path: Path) -> None:
    # the comment regex was quadratic: 20,000 blanks took 1.8 s, 200,000 would take minutes
    (tmp_path / "r.txt").write_text(" " * 400_000 + "six" + " " * 400_000 + "\n" + "six \\\n" * 10_000 + "\n")
    started = time.monotonic()
    with pytest.raises(UsageError) as error:
        parse_requirements_file(tmp_path / "r.txt")
    assert time.monotonic() - started < 5
    assert "r.txt:2: invalid requirement 'six six six" in error.value.message
    usage_error_line(error.value)


@pytest.mark.parametrize("option", ["-r", "-c", "--pyproject", "--nixpkgs-inventory"])
def test_only_regular_files_are_read(option: str, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # no writer: opening it for reading would wait for ever
    (tmp_path / "huge.txt").write_bytes(b"#" * (MAX_INPUT_BYTES + 1))
    for path, fragment, isolated in (
        ("fifo", "is a FIFO", True),
        ("/dev/zero", "is a device", True),  # endless: a MemoryError before
        (str(tmp_path), "is a directory", False),
        (str(tmp_path / "huge.txt"), f"larger than {MAX_INPUT_BYTES >> 20} MiB", False),
    ):
        argv = ["resolve", "--db", SNAPSHOT, option, path, "six"]
        if isolated:  # could hang or exhaust memory should the check regress
            proc = subprocess_cli(*argv, cwd=tmp_path, timeout=30)
            code, err = proc.returncode, proc.stderr
        else:
            code, _out, err = run(argv)
        assert_clean(code, err)
        assert code == ExitCode.USAGE and fragment in err, (path, err)
        assert "regular files" in err or "MiB" in err


def test_dev_null_is_an_empty_file(tmp_path: Path) -> None:
    code, out, err = run(["resolve", "--db", SNAPSHOT, "-c", os.devnull, "six"])
    assert code == 0 and "six" in out, err


def test_includes_of_special_files_name_the_including_line(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("six\n-r /dev/zero\n")
    proc = subprocess_cli("resolve", "--db", SNAPSHOT, "-r", "r.txt", cwd=tmp_path, timeout=30)
    assert_clean(proc.returncode, proc.stderr)
    assert "r.txt:2: requirements file /dev/zero is a device" in proc.stderr, proc.stderr


#: Values that made the resolver enumerate wheel tags for ever (a glibc or macOS version of
#: 10**18): run in a subprocess, bounded in time and memory, should the check regress.
ENDLESS_TARGETS = [
    (["--glibc=2.999999999999999999"], "invalid glibc version"),
    (["--system=aarch64-darwin", "--macos-target=99999999999999.0"], "invalid macOS"),
    (["--system=x86_64-darwin", "--macos-target=10.99999"], "invalid macOS"),
]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--python=3.11.99999999999999999999"], "invalid Python version"),
        (["--python=٣.١١"], "invalid Python version"),
        (["--python=3.11.0.post1"], "invalid Python version"),
        (["--python=3.11rc1"], "invalid Python version"),
        (["--glibc=٢.٤"], "invalid glibc version"),  # accepted as 2.4 before
        (["--system=x86_64-darwin", "--macos-target=0.0"], "expected 10.X or later"),
        (["--provider=a b=wheel"], "invalid package name 'a b'"),  # accepted as a-b before
        (["--provider=_x=wheel"], "invalid package name '_x'"),
        (["--provider=six=" + "w" * 10_000], "unknown provider 'wwww"),
        (["--format=yaml"], "invalid choice: 'yaml'"),
        (["--bogus"], "unrecognized arguments: --bogus (see 'mach-nix resolve --help')"),
        (["--db"], "argument --db: expected one argument (see 'mach-nix resolve --help')"),
    ],
)
def test_bad_option_values_are_one_line_errors(argv: list[str], fragment: str) -> None:
    code, _out, err = run(["resolve", "--db", SNAPSHOT, "six", *argv])
    assert_clean(code, err)
    assert code == ExitCode.USAGE and fragment in err, err


@pytest.mark.parametrize("argv, fragment", ENDLESS_TARGETS)
def test_target_versions_are_bounded(argv: list[str], fragment: str, tmp_path: Path) -> None:
    proc = subprocess_cli("resolve", "--db", SNAPSHOT, "six", *argv, cwd=tmp_path, timeout=30)
    assert_clean(proc.returncode, proc.stderr)
    assert proc.returncode == ExitCode.USAGE and fragment in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["db", "crawl", "--db", "x", "--concurrency", "0", "six"], "argument --concurrency: expected a whole number"),
        (["db", "update", "--db", "x", "--hook-timeout", "nan"], "argument --hook-timeout: expected seconds"),
        (["db", "update", "--db", "x", "--hook-memory-mb", "-1"], "argument --hook-memory-mb"),
        (["server", "start", "--idle", "inf"], "argument --idle: expected seconds"),
        (["server", "start", "--idle", "-5"], "argument --idle: expected seconds"),
    ],
)
def test_bad_numbers_of_other_commands_are_one_line_errors(argv: list[str], fragment: str, tmp_path: Path) -> None:
    code, _out, err = run(argv, env={"XDG_RUNTIME_DIR": str(tmp_path)})  # no server of the user's, whatever happens
    assert_clean(code, err, {ExitCode.USAGE})
    assert fragment in err, err


def test_bad_nixpkgs_inventory_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "inventory.json").write_text("[" * 100_000)
    code, _out, err = run(["resolve", "--db", SNAPSHOT, "six", "--nixpkgs-inventory", str(tmp_path / "inventory.json")])
    assert_clean(code, err)
    assert code == ExitCode.USAGE and "nested too deeply" in err, err


@pytest.mark.parametrize("value", ["/nonexistent-mach-nix-db", os.devnull, "relative/none"])
def test_bad_mach_nix_db_is_an_error_not_a_traceback(value: str) -> None:
    code, _out, err = run(["resolve", "six"], env={"MACH_NIX_DB": value})
    assert_clean(code, err, {ExitCode.USAGE, ExitCode.DATABASE})


@pytest.mark.parametrize("value", ["", ":"])
def test_empty_mach_nix_db_names_no_database(value: str) -> None:
    """An empty list is no pinned database: the cache and the registry (unreachable in the
    tests), so the error is the network's, with the option that avoids it."""
    code, _out, err = run(["resolve", "six"], env={"MACH_NIX_DB": value})
    assert_clean(code, err, {ExitCode.NETWORK})
    assert "--offline" in err, err


@pytest.mark.parametrize(
    "argv", [["db", "info", "--db", SNAPSHOT, "six"], ["resolve", "--db", SNAPSHOT, "black"], ["lock", "--help"]]
)
def test_closed_output_ends_quietly_with_sigpipes_code(argv: list[str], tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*CLI, *argv],
        cwd=tmp_path,
        env=dict(os.environ, MACH_NIX_NO_SERVER="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first write: like `| head -0`
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == ExitCode.BROKEN_PIPE, err
    assert err == ""  # no traceback, no "Exception ignored" at exit


def test_a_broken_pipe_elsewhere_is_still_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(argv: list[str]) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(entry, "_run", broken)
    with pytest.raises(BrokenPipeError):  # stdout is fine: not a closed output, so not hidden
        entry.main()


# -- property-based tests -----------------------------------------------------------------

#: Requirement strings: valid ones of the snapshot, and pieces of invalid ones.
REQUIREMENTS = st.sampled_from(
    [
        "six",
        "six>=1.10",
        "six<1",
        "idna==99",
        "attrs; python_version >= '3.8'",
        "requests[socks]",
        "six[nonexistent-extra]",
        "click; extra == 'x'",
        "six; python_version ~= 'abc'",
        "six; os_name == 'nt' or (platform_machine == 'x86_64' and python_version > '3')",
        "six @ https://files.pythonhosted.org/six-1.16.0-py2.py3-none-any.whl#sha256=" + "a" * 64,
        "six @ git+https://github.com/x/six",
        "six @ ftp://x/six.whl",
        "no-such-project-mach-nix",
        "reqeusts",
        "six===",
        "six>=",
        "six; (",
        "-e .",
        "--hash=sha256:00",
        "",
        " ",
        "\\",
        "#",
        "é",
        "\x00",
        "\ufeffsix",
    ]
) | st.text(max_size=30)


def toml_value(value: object) -> str:
    """A value as TOML (inline tables and arrays): the test's own small writer."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


KEYS = st.sampled_from(["dev", "test", "x", "Dev_Group", "a.b", ""]) | st.text(max_size=8)
SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | REQUIREMENTS
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
REQUIREMENT_ARRAY = st.lists(REQUIREMENTS, max_size=4)
GROUP_ITEM = REQUIREMENTS | st.fixed_dictionaries({"include-group": KEYS | ANY_VALUE}) | ANY_VALUE


@st.composite
def pyproject_documents(draw: st.DrawFn) -> dict[str, object]:
    """pyproject.toml contents: mostly the right shape, with wrong types anywhere."""
    document: dict[str, object] = {}
    if draw(st.booleans()):
        project: dict[str, object] = {}
        for key, well_typed in (
            ("dependencies", REQUIREMENT_ARRAY),
            ("optional-dependencies", st.dictionaries(KEYS, REQUIREMENT_ARRAY, max_size=3)),
            ("dynamic", st.lists(st.sampled_from(["version", "dependencies", "optional-dependencies"]), max_size=2)),
        ):
            choice = draw(st.integers(0, 3))
            if choice == 1:
                project[key] = draw(well_typed)
            elif choice == 2:
                project[key] = draw(ANY_VALUE)
        document["project"] = project if draw(st.integers(0, 5)) else draw(ANY_VALUE)
    if draw(st.booleans()):
        document["dependency-groups"] = draw(
            st.dictionaries(KEYS, st.lists(GROUP_ITEM, max_size=3) | ANY_VALUE, max_size=3) | ANY_VALUE
        )
    if draw(st.booleans()):
        document[draw(KEYS)] = draw(ANY_VALUE)
    return document


def serialize(document: dict[str, object]) -> str:
    return "".join(f"{toml_value(key)} = {toml_value(value)}\n" for key, value in document.items())


#: What is done to a serialized document's bytes before it is parsed.
MANGLES = st.sampled_from(["none", "none", "bom", "utf-16", "latin-1", "truncate", "insert", "nest"])


def mangle(text: str, how: str, data: st.DataObject) -> bytes:
    raw = text.encode()
    if how == "bom":
        return codecs.BOM_UTF8 + raw
    if how == "utf-16":
        return text.encode("utf-16")
    if how == "latin-1":
        return text.encode("latin-1", "replace")
    if how == "truncate":
        return raw[: data.draw(st.integers(0, len(raw)))]
    if how == "insert":
        at = data.draw(st.integers(0, len(raw)))
        return raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    if how == "nest":
        depth = data.draw(st.integers(1, 1200))
        return raw + b"deep = " + b"[" * depth + b"]" * depth + b"\n"
    return raw


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=300, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
@given(document=pyproject_documents(), how=MANGLES, extras=st.lists(KEYS, max_size=2), data=st.data())
def test_fuzz_pyproject_parser(
    fuzz_dir: Path, document: dict[str, object], how: str, extras: list[str], data: st.DataObject
) -> None:
    path = fuzz_dir / "pyproject.toml"
    path.write_bytes(mangle(serialize(document), how, data))
    groups = data.draw(st.lists(KEYS, max_size=2))
    try:
        result = parse_pyproject(path, extras, groups)
    except UsageError as error:
        usage_error_line(error)
        return
    for requirement in result.requirements:
        assert requirement.name


#: Pieces of requirements files: lines, options, markers, URLs, continuations, includes.
LINE_PIECES = REQUIREMENTS | st.sampled_from(
    [
        "\n",
        "\r\n",
        "\\\n",
        " \\",
        "  # comment",
        "#sha256=",
        "-r inc.txt",
        "-c inc.txt",
        "-r self.txt",
        "-r missing.txt",
        "-r .",
        "-r /dev/null",
        "-rinc.txt",
        "--requirement=inc.txt",
        "--pre",
        "--pre=1",
        "-i https://x",
        " " * 3000,
        "x" * 5000,
        "(" * 300,
        "; python_version > '3'",
        "[socks]",
        "\u2028",
        "\x0c",
    ]
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "utf-16-le", "cp1252-declared", "random"])


def encode(text: str, how: str, data: st.DataObject) -> bytes:
    if how == "cp1252-declared":
        return ("# -*- coding: cp1252 -*-\n" + text).encode("cp1252", "replace")
    if how == "random":
        return data.draw(st.binary(max_size=64))
    return text.encode(how, "surrogatepass")


@settings(max_examples=300, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(LINE_PIECES, max_size=12), how=ENCODINGS, included=st.lists(LINE_PIECES, max_size=4), data=st.data()
)
def test_fuzz_requirements_files(
    fuzz_dir: Path, pieces: list[str], how: str, included: list[str], data: st.DataObject
) -> None:
    text = "".join(pieces)
    (fuzz_dir / "self.txt").write_bytes(encode(text, how, data))
    (fuzz_dir / "inc.txt").write_text("".join(included), encoding="utf-8", errors="surrogatepass")
    try:
        result = parse_requirements_file(fuzz_dir / "self.txt", display="self.txt")
    except UsageError as error:
        usage_error_line(error)
        outcome: object = ("error", error.message)
    else:
        assert all(r.name for r in result.requirements + result.constraints)
        outcome = [str(r) for r in result.requirements], [str(r) for r in result.constraints], result.pre
    plain_equivalent = "\x00" not in text and "coding" not in text and not text.startswith("\ufeff")
    if how in ("utf-8-sig", "utf-16", "utf-32") and plain_equivalent:
        # a byte-order mark changes nothing: the same requirements as the plain UTF-8 file
        (fuzz_dir / "self.txt").write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            plain = parse_requirements_file(fuzz_dir / "self.txt", display="self.txt")
        except UsageError as error:
            assert outcome == ("error", error.message)
        else:
            assert outcome == ([str(r) for r in plain.requirements], [str(r) for r in plain.constraints], plain.pre)


def mostly(valid: list[str], invalid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values that are mostly valid (so that many examples get through to the resolver)."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid), invalid)


#: Values of the command line's options (given as ``--option=VALUE``: any text is a value).
PYTHONS = mostly(
    ["3.11", "3.8.18", "3.12", "3.13.0rc1"],
    st.sampled_from(["3.7", "3.11.7.1", "3", "", "٣.١١", "3.11.99", "3.11.100"]) | st.text(max_size=12),
)
SYSTEMS = mostly(["x86_64-linux", "aarch64-darwin", "x86_64-darwin", "aarch64-linux"], st.text(max_size=14))
GLIBCS = mostly(["2.17", "2.40", "2.28"], st.sampled_from(["2.99", "0.0", "2.999", "2", "3.1"]) | st.text(max_size=8))
MACOS = mostly(["11.0", "10.9", "14.2"], st.sampled_from(["99.99", "0.0", "10.999"]) | st.text(max_size=8))
PROVIDER_OPTIONS = mostly(
    ["_default=wheel,sdist,nixpkgs", "_default=sdist,wheel", "six=nixpkgs,wheel", "six=sdist"],
    st.sampled_from(["six=", "=wheel", "six", "a b=wheel", "_default=conda"]) | st.text(max_size=20),
)
BAD_FILES = st.sampled_from(["missing.txt", ".", "r.txt", "pyproject.toml", "inventory.json", os.devnull])
EXTRAS = mostly(["x"], KEYS)
ARGUMENTS = mostly(["six", "idna", "attrs", "six>=1.10", "click; python_version>'3'", "requests[socks]"], REQUIREMENTS)


@st.composite
def resolve_arguments(draw: st.DrawFn) -> tuple[list[str], dict[str, str | None], set[int]]:
    argv = [draw(st.sampled_from(["resolve", "resolve", "lock"]))]
    env: dict[str, str | None] = {"MACH_NIX_DB": None}
    allowed = set(INPUT_CODES)
    database = draw(st.sampled_from(["--db", "--db", "--db", "env", "env-bad", "none"]))
    if database == "--db":
        argv += ["--db", SNAPSHOT]
    elif database == "env":
        env["MACH_NIX_DB"] = SNAPSHOT
    elif database == "env-bad":
        env["MACH_NIX_DB"] = draw(st.sampled_from(["", ":", "/nonexistent", f"{SNAPSHOT}:/nonexistent"]))
        allowed.add(ExitCode.DATABASE)
    system = draw(SYSTEMS)
    argv.append(f"--system={system}")
    platform = MACOS if system.endswith("-darwin") else GLIBCS
    for option, values in (
        ("--python", PYTHONS),
        ("--macos-target" if system.endswith("-darwin") else "--glibc", platform),
        ("--provider", PROVIDER_OPTIONS),
        ("-r", mostly(["r.txt"], BAD_FILES)),
        ("-c", mostly(["c.txt", os.devnull], BAD_FILES)),
        ("--pyproject", mostly(["pyproject.toml"], BAD_FILES)),
        ("--extra", EXTRAS),
        ("--nixpkgs-inventory", mostly(["inventory.json"], BAD_FILES)),
    ):
        if draw(st.integers(0, 5)) == 0:
            argv.append(f"{option}={draw(values)}")
    if argv[0] == "lock":
        argv.append("--output=-")
    if argv[0] == "resolve" and draw(st.booleans()):
        argv.append("--format=json")
    argv.append("--offline")  # the fuzz is about input handling: nothing is fetched (tests reach no registry)
    argv += draw(st.lists(ARGUMENTS, min_size=1, max_size=3))
    return argv, env, allowed


@settings(
    max_examples=100,
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(arguments=resolve_arguments())
def test_fuzz_command_line(
    fuzz_dir: Path, monkeypatch: pytest.MonkeyPatch, arguments: tuple[list[str], dict[str, str | None], set[int]]
) -> None:
    monkeypatch.chdir(fuzz_dir)
    (fuzz_dir / "r.txt").write_text("six\nidna; python_version >= '3.8'\n")
    (fuzz_dir / "c.txt").write_text("six>=1.10\n")
    (fuzz_dir / "pyproject.toml").write_text(
        "[project]\ndependencies = ['six']\n[project.optional-dependencies]\nx = ['idna']\n"
    )
    (fuzz_dir / "inventory.json").write_text('[{"attr": "six", "pname": "six", "version": "1.16.0"}]')
    argv, env, allowed = arguments
    code, out, err = run(argv, env)
    event(f"exit code {code}")  # pytest --hypothesis-show-statistics: how many got how far
    assert_clean(code, err, allowed)
    if code == ExitCode.OK:
        assert out


@settings(max_examples=100, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(
    name=ARGUMENTS | st.sampled_from(["six===,x", "six==1.*.2", "six;" + "(" * 500, "Six==1.16.0"]), json_=st.booleans()
)
def test_fuzz_db_info_name(name: str, json_: bool) -> None:
    code, out, err = run(["db", "info", "--db", SNAPSHOT, "--offline", name, *(["--json"] if json_ else [])])
    assert_clean(code, err, {ExitCode.OK, ExitCode.USAGE, ExitCode.NOT_FOUND})
    if code == ExitCode.OK:
        assert out


def test_a_control_character_in_an_unknown_argument_keeps_the_error_one_line() -> None:
    code, _out, err = run(["resolve", "--db", SNAPSHOT, "--offline", "six", "--hash=sha256:00", "\r"])
    assert_clean(code, err, {ExitCode.USAGE})
    assert "\\r" in err, err
