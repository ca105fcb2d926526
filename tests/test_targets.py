"""One lock for several targets (``mach-nix lock --system … --python …``) on the committed snapshot.

The snapshot's llvmlite has wheels for x86_64-linux up to 0.50.0 but for aarch64-darwin only up to
0.47.0, ipykernel requires appnope only where ``platform_system == "Darwin"``, and numpy 2 has no
release for CPython 3.8: resolutions that naturally differ between targets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockcheck import check_targets
from mach_nix.cli import main
from mach_nix.db.store import open_database
from mach_nix.errors import ExitCode
from mach_nix.lock import dumps_json
from mach_nix.providers import ProviderConfig
from mach_nix.resolution.agreement import Agreement
from mach_nix.resolution.resolve import resolve_packages
from mach_nix.target import Target

DB = str(Path(__file__).parent / "data" / "pypi-db")
HERMETIC = ("--db", DB, "--offline", "--no-cache", "--native-needs", "off")
LINUX, DARWIN = "x86_64-linux", "aarch64-darwin"


@pytest.fixture(scope="module")
def db():
    return open_database([DB])


def lock(capsys, tmp_path: Path, *argv: str, name: str = "lock.json") -> tuple[dict, str, bytes]:
    out = tmp_path / name
    code = main(["lock", *argv, *HERMETIC, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    data = out.read_bytes()
    return json.loads(data), err, data


def versions(document: dict) -> dict[str, str]:
    return {name: entry["version"] for name, entry in document["packages"].items()}


def test_preferred_version_first_but_never_a_pin(db):
    target = Target.create("3.12", LINUX)
    providers = ProviderConfig()
    newest, _ = resolve_packages(["six"], target, providers, db)
    assert newest["six"].candidate.version_str != "1.15.0"
    agreement = Agreement(preferred={"six": "1.15.0"})
    preferred, _ = resolve_packages(["six"], target, providers, db, agreement=agreement)
    assert preferred["six"].candidate.version_str == "1.15.0" and agreement.refused == {}
    impossible = Agreement(preferred={"six": "1.15.0"})
    fallback, _ = resolve_packages(["six>=1.16"], target, providers, db, agreement=impossible)
    assert fallback["six"].candidate.version_str == newest["six"].candidate.version_str
    assert "six 1.15.0 conflicts with the other requirements" in impossible.refused["six"]


def test_versions_agree_where_independent_locks_differ(capsys, tmp_path, db):
    linux, _, _ = lock(capsys, tmp_path, "llvmlite", "--python", "3.12", "--system", LINUX, name="linux.json")
    darwin, _, _ = lock(capsys, tmp_path, "llvmlite", "--python", "3.12", "--system", DARWIN, name="darwin.json")
    alone = {"linux": versions(linux)["llvmlite"], "darwin": versions(darwin)["llvmlite"]}
    assert alone["linux"] != alone["darwin"], "the snapshot no longer makes llvmlite differ"
    for systems in ((LINUX, DARWIN), (DARWIN, LINUX)):  # darwin first: linux prefers darwin's version
        argv = ["llvmlite", "--python", "3.12", "--system", systems[0], "--system", systems[1]]
        container, err, _ = lock(capsys, tmp_path, *argv)
        assert container["order"] == [f"3.12.11-{s}" for s in systems]
        got = {key: versions(doc)["llvmlite"] for key, doc in container["targets"].items()}
        assert set(got.values()) == {alone["darwin"]}, got
        assert container["differences"] == [] and "versions agree" in err
        assert check_targets(container, ["llvmlite"], db) == []


def test_differences_say_why_and_first_target_is_the_plain_lock(capsys, tmp_path, db):
    argv = ["ipykernel", "--python", "3.12", "--system", LINUX, "--system", DARWIN]
    container, err, first = lock(capsys, tmp_path, *argv)
    _, _, again = lock(capsys, tmp_path, *argv, name="again.json")
    assert again == first  # deterministic
    assert check_targets(container, ["ipykernel"], db) == []
    [appnope] = container["differences"]
    assert appnope["name"] == "appnope"
    assert appnope["versions"][f"3.12.11-{LINUX}"] is None and appnope["versions"][f"3.12.11-{DARWIN}"]
    assert 'platform_system == "Darwin"' in appnope["reason"] and "ipykernel" in appnope["reason"]
    assert "appnope: - on 3.12.11-x86_64-linux" in err
    single, _, single_bytes = lock(capsys, tmp_path, "ipykernel", "--python", "3.12", "--system", LINUX, name="s.json")
    assert "kind" not in single  # one target: the plain lock
    assert dumps_json(container["targets"][f"3.12.11-{LINUX}"]).encode() == single_bytes


def test_json_summary_of_several_targets(capsys, tmp_path):
    out = tmp_path / "lock.json"
    argv = ["lock", "ipykernel", "--python", "3.12", "--system", LINUX, "--system", DARWIN, "--json"]
    assert main([*argv, *HERMETIC, "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    container = json.loads(out.read_text())
    assert [(t["python"], t["system"]) for t in summary["targets"]] == [("3.12.11", LINUX), ("3.12.11", DARWIN)]
    for item, key in zip(summary["targets"], container["order"], strict=True):
        assert item["packages"] == len(container["targets"][key]["packages"])
    everywhere = {name for doc in container["targets"].values() for name in doc["packages"]}
    assert summary["packages"] == len(everywhere) and summary["path"] == str(out)
    assert summary["differences"] == container["differences"] != []


def test_python_versions_that_cannot_agree(capsys, tmp_path, db):
    container, err, _ = lock(capsys, tmp_path, "numpy", "--python", "3.8", "--python", "3.12", "--system", LINUX)
    assert container["order"] == [f"3.8.20-{LINUX}", f"3.12.11-{LINUX}"]
    assert check_targets(container, ["numpy"], db) == []
    [numpy] = container["differences"]
    old, new = numpy["versions"][f"3.8.20-{LINUX}"], numpy["versions"][f"3.12.11-{LINUX}"]
    assert old.startswith("1.") and new.startswith("2.")
    assert f"of numpy {new} for CPython 3.8.20" in numpy["reason"]


def test_root_marker_difference_and_failing_target_named(capsys, tmp_path, db):
    argv = ["idna", "six; sys_platform == 'darwin'", "--python", "3.12", "--system", LINUX, "--system", DARWIN]
    container, _, _ = lock(capsys, tmp_path, *argv)
    assert check_targets(container, ["idna", "six; sys_platform == 'darwin'"], db) == []
    [six] = container["differences"]
    assert six["name"] == "six" and "a requirement of yours whose marker holds only there" in six["reason"]
    code = main(
        [
            "lock",
            "numba==0.50.1",
            "--provider",
            "numba=wheel",
            "--python",
            "3.8",
            "--system",
            LINUX,
            "--system",
            DARWIN,
            *HERMETIC,
            "-o",
            str(tmp_path / "never.json"),
        ]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.NOT_FOUND and "the target CPython 3.8.20 on aarch64-darwin failed" in err, err
    assert not (tmp_path / "never.json").exists()


def chosen_by_pylock(text: str, target: Target) -> set[tuple[str, str, str]]:
    """What PEP 751's installation steps (packaging's implementation) select for a target."""
    import tomllib

    from packaging.pylock import PackageSdist, PackageWheel, Pylock

    tags = [tag for tag, _ in sorted(target.tag_ranks.items(), key=lambda item: item[1])]
    pylock = Pylock.from_dict(tomllib.loads(text))
    chosen = set()
    for package, file in pylock.select(environment=target.marker_environment, tags=tags):  # type: ignore[arg-type]
        assert isinstance(file, PackageWheel | PackageSdist), file  # mach-nix writes wheels and sdists only
        chosen.add((str(package.name), str(package.version), str(file.filename)))
    return chosen


@pytest.mark.parametrize(
    "argv",
    [
        ["ipykernel", "llvmlite", "--python", "3.12", "--system", LINUX, "--system", DARWIN],
        ["numpy", "six", "--python", "3.8", "--python", "3.12", "--system", LINUX],
    ],
    ids=["two-systems", "two-pythons"],
)
def test_one_pylock_toml_for_several_targets(capsys, tmp_path, argv):
    """Each target's environment selects, by PEP 751's rules, exactly its own lock's files."""
    container, _, _ = lock(capsys, tmp_path, *argv)
    assert container["differences"]  # the targets really differ
    texts = []
    for name in ("pylock.toml", "pylock.again.toml"):
        code = main(["lock", *argv, *HERMETIC, "--format", "pylock", "-o", str(tmp_path / name)])
        assert code == 0, capsys.readouterr().err
        texts.append((tmp_path / name).read_text())
    assert texts[0] == texts[1]  # deterministic
    document = texts[0]
    assert document.count("environments = [") == 1 and "marker = " in document
    for key in container["order"]:
        inner = container["targets"][key]
        target = Target.create(inner["target"]["python"], inner["target"]["system"])
        expected = {
            (name, entry["version"], entry["artifact"]["filename"]) for name, entry in inner["packages"].items()
        }
        assert chosen_by_pylock(document, target) == expected, key


def test_a_warning_of_every_target_is_shown_once(capsys, tmp_path):
    _, err, _ = lock(capsys, tmp_path, "six[nosuch]", "--python", "3.12", "--system", LINUX, "--system", DARWIN)
    assert err.count("does not provide the extra 'nosuch'") == 1, err


def test_checker_catches_a_damaged_container(capsys, tmp_path, db):
    container, _, _ = lock(capsys, tmp_path, "ipykernel", "--python", "3.12", "--system", LINUX, "--system", DARWIN)
    forged = json.loads(json.dumps(container))
    forged["differences"] = []
    assert any("differences lack appnope" in p for p in check_targets(forged, ["ipykernel"], db))
    forged = json.loads(json.dumps(container))
    forged["order"] = forged["order"][:1]
    assert check_targets(forged, ["ipykernel"], db)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["resolve", "six"], "`mach-nix resolve` serves one target"),
        (["env", "never-written", "six"], "`mach-nix env` serves one target"),
        (["gen", "six"], "`mach-nix gen` serves one target"),
        (["lock", "six", "--python", "3.11", "-o", "-"], "asked for more than once"),
        (["lock", "six", "--python", "3.11", "--glibc", "2.28", "--system", DARWIN, "-o", "-"], "--glibc only"),
    ],
)
def test_several_targets_refused_where_unsupported(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    extra = ["--system", LINUX, "--system", DARWIN] if "--python" not in argv else ["--python", "3.11.13"]
    if "--glibc" in argv:
        extra = ["--python", "3.12"]
    code = main([*argv, *extra, *HERMETIC[:4]])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE and fragment in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written
