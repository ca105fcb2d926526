"""Resolver semantics on small in-memory databases (mach_nix.resolution, providers, explanations)."""

from __future__ import annotations

import time

import pytest
from packaging.specifiers import SpecifierSet

import nixhelpers
from fakepypi import FakePyPI
from lockcheck import check_lock
from mach_nix.db.model import Metadata
from mach_nix.errors import NotFoundError, ResolutionError, UsageError
from mach_nix.inventory import Inventory
from mach_nix.providers import ProviderConfig
from mach_nix.requirements import parse_requirements_text
from mach_nix.resolution.resolve import resolve
from mach_nix.target import Target

PY311 = Target.create("3.11.7", "x86_64-linux")
PY38 = Target.create("3.8.10", "x86_64-linux")


def versions(lock) -> dict[str, str]:
    return {name: entry["version"] for name, entry in lock.packages.items()}


def checked(reqs, target=PY311, providers=None, db=None, inventory=None):
    """Resolve and run the independent checker on the result."""
    lock = resolve(reqs, target, providers, db, inventory)
    assert check_lock(lock.data, list(reqs), db) == []
    return lock


# ---------------------------------------------------------------------------- providers


def mixed_db() -> FakePyPI:
    db = FakePyPI()
    db.add("pure", "1.0")  # wheel
    db.add(
        "pure", "2.0", files=["pure-2.0.tar.gz"], build_requires=["setuptools>=40.8.0", "wheel; python_version < '3'"]
    )
    db.add("setuptools", "60.0")
    db.add("setuptools", "70.0", files=["setuptools-70.0.tar.gz"])
    return db


def test_wheel_first_means_every_wheel_before_any_sdist():
    lock = checked(["pure"], db=mixed_db())
    assert lock.packages["pure"]["version"] == "1.0"
    assert lock.packages["pure"]["provider"] == "wheel"


def test_sdist_first_takes_the_newest_sdist_with_build_requires():
    lock = checked(["pure"], providers={"_default": "sdist,wheel"}, db=mixed_db())
    entry = lock.packages["pure"]
    assert (entry["version"], entry["provider"]) == ("2.0", "sdist")
    assert entry["artifact"]["filename"] == "pure-2.0.tar.gz"
    assert entry["build_requires"] == ["setuptools>=40.8.0"]


def test_user_default_governs_unnamed_packages_issue_423():
    # The original mach-nix had built-in per-package defaults (setuptools = "nixpkgs")
    # that silently beat the user's _default. Here the user's _default wins for setuptools.
    config = ProviderConfig.from_options(["_default=sdist,wheel"])
    assert config.order_for("setuptools") == ("sdist", "wheel")
    assert config.order_for("wheel") == ("sdist", "wheel")
    assert config.order_for("pip") == ("sdist", "wheel")
    lock = checked(["setuptools"], providers=config, db=mixed_db())
    assert lock.packages["setuptools"]["provider"] == "sdist"


def test_per_package_order_any_spelling():
    config = ProviderConfig.from_options(["_default=wheel", "Pure=sdist"])
    assert config.order_for("pure") == ("sdist",)
    lock = checked(["pure", "setuptools"], providers=config, db=mixed_db())
    assert lock.packages["pure"]["provider"] == "sdist"
    assert lock.packages["setuptools"]["version"] == "60.0"


@pytest.mark.parametrize(
    "options, message",
    [
        (["_default=wheel,conda"], "unknown provider 'conda'"),
        (["_default=wheel,wheel"], "given twice"),
        (["numpy"], "expected NAME=PROVIDER"),
        (["_default="], "empty provider list"),
        (["numpy=wheel", "NumPy=sdist"], "given twice"),
    ],
)
def test_provider_option_errors(options, message):
    with pytest.raises(UsageError, match=message):
        ProviderConfig.from_options(options)


def test_nixpkgs_provider_uses_db_dependencies_of_the_same_version():
    db = FakePyPI()
    db.add("requests", "2.31.0", ["idna"])
    db.add("requests", "2.30.0", ["idna", "chardet"])
    db.add("idna", "3.4")
    db.add("chardet", "5.0")
    inventory = Inventory(
        [
            {"attr": "requests_old", "pname": "requests", "version": "2.30.0"},
            {"attr": "requests", "pname": "requests", "version": "2.30.0"},
            {"attr": "idna", "pname": "idna", "version": "not a version!"},
            {"attr": "nixonly", "pname": "nix-only", "version": "1.0"},
        ]
    )
    lock = checked(["requests", "nix_only"], providers={"_default": "nixpkgs,wheel"}, db=db, inventory=inventory)
    entry = lock.packages["requests"]
    assert entry["provider"] == "nixpkgs"
    assert entry["nixpkgs_attr"] == "requests"
    assert entry["version"] == "2.30.0"
    assert entry["dependencies"] == ["chardet", "idna"]
    assert "artifact" not in entry
    assert lock.packages["idna"]["provider"] == "wheel"  # invalid version skipped
    assert lock.packages["nix-only"]["dependencies_known"] is False


# ---------------------------------------------------------------------------- versions


def test_prereleases_only_when_asked_or_nothing_else():
    db = FakePyPI().add("a", "1.0").add("a", "2.0b1").add("b", "1.0rc1")
    assert versions(checked(["a"], db=db))["a"] == "1.0"
    assert versions(checked(["a>=2.0b1"], db=db))["a"] == "2.0b1"
    assert versions(checked(["b"], db=db))["b"] == "1.0rc1"
    reqs = parse_requirements_text("--pre\na\n")
    assert versions(resolve(reqs, PY311, None, db))["a"] == "2.0b1"


def test_yanked_only_when_pinned():
    db = FakePyPI().add("a", "1.0").add("a", "1.1", yanked="broken")
    assert versions(checked(["a"], db=db))["a"] == "1.0"
    lock = checked(["a==1.1"], db=db)
    assert lock.packages["a"]["version"] == "1.1"
    assert lock.packages["a"]["yanked"] is True
    with pytest.raises((ResolutionError, NotFoundError)):
        resolve(["a>1.0"], PY311, None, db)


def test_requires_python_and_markers_for_the_target_python():
    db = FakePyPI()
    db.add(
        "lib",
        "2.0",
        ["typing-extensions; python_version < '3.9'", "winonly; sys_platform == 'win32'"],
        requires_python=">=3.9",
    )
    db.add(
        "lib",
        "1.0",
        ["typing-extensions; python_version < '3.9'", "importlib-metadata; python_full_version < '3.8.11'"],
    )
    db.add("typing-extensions", "4.0")
    db.add("importlib-metadata", "6.0")
    db.add("winonly", "1.0")
    new = checked(["lib"], target=PY311, db=db)
    old = checked(["lib"], target=PY38, db=db)
    assert versions(new) == {"lib": "2.0"}
    assert versions(old) == {"lib": "1.0", "typing-extensions": "4.0", "importlib-metadata": "6.0"}
    later = checked(["lib"], target=Target.create("3.8.12"), db=db)
    assert "importlib-metadata" not in later.packages


def test_per_file_metadata_of_the_chosen_wheel():
    db = FakePyPI()
    db.add(
        "plat",
        "1.0",
        files=[
            "plat-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "plat-1.0-cp311-cp311-macosx_11_0_arm64.whl",
            "plat-1.0-py3-none-any.whl",
        ],
        metas=[Metadata(requires_dist=("linuxdep",)), Metadata(requires_dist=("macdep",))],
        file_meta=[0, 1, None],  # per file as listed; the py3 wheel's metadata is unknown
    )
    db.add("linuxdep", "1").add("macdep", "1")
    linux = checked(["plat"], db=db)
    mac = checked(["plat"], target=Target.create("3.11", "aarch64-darwin"), db=db)
    assert linux.packages["plat"]["artifact"]["filename"].endswith("manylinux_2_17_x86_64.whl")
    assert set(linux.packages) == {"plat", "linuxdep"}
    assert set(mac.packages) == {"plat", "macdep"}
    with pytest.raises(NotFoundError, match="no artifact"):
        resolve(["plat"], Target.create("3.11", "aarch64-linux"), None, db)


def test_best_ranked_wheel_is_chosen():
    db = FakePyPI().add(
        "fast",
        "1.0",
        files=[
            "fast-1.0-py3-none-any.whl",
            "fast-1.0-cp311-cp311-manylinux2014_x86_64.whl",
            "fast-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            "fast-1.0-cp38-abi3-manylinux1_x86_64.whl",
        ],
    )
    lock = checked(["fast"], db=db)
    assert lock.packages["fast"]["artifact"]["filename"] == "fast-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    old_glibc = checked(["fast"], target=Target.create("3.11", glibc="2.17"), db=db)
    assert old_glibc.packages["fast"]["artifact"]["filename"] == "fast-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    py312 = checked(["fast"], target=Target.create("3.12"), db=db)
    assert py312.packages["fast"]["artifact"]["filename"] == "fast-1.0-cp38-abi3-manylinux1_x86_64.whl"


# ---------------------------------------------------------------------------- extras, cycles


def test_extras_with_cycles_and_normalised_names():
    db = FakePyPI()
    db.add(
        "Dask",
        "2.22.0",
        [
            "dask[array,dataframe]; extra == 'complete'",
            "numpy; extra == 'array'",
            "pandas; extra == 'dataframe'",
            "dask[array]; extra == 'dataframe'",
            "toolz",
        ],
        extras=["array", "complete", "dataframe"],
    )
    db.add("numpy", "1.0").add("toolz", "1.0")
    db.add("pandas", "1.0", ["numpy", "dask"])  # cycle back to dask
    lock = checked(["dask[complete]==2.22.0"], db=db)
    assert lock.packages["dask"]["extras"] == ["array", "complete", "dataframe"]
    assert lock.packages["dask"]["dependencies"] == ["numpy", "pandas", "toolz"]
    assert lock.packages["pandas"]["dependencies"] == ["dask", "numpy"]
    assert lock.roots == ["dask"]


def test_constraints_limit_versions_without_adding_packages():
    db = FakePyPI().add("a", "1.0").add("a", "2.0").add("unused", "1.0")
    reqs = parse_requirements_text("a\n", "r.txt")
    reqs.constraints += parse_requirements_text("a<2\nunused==1.0\n", as_constraints=True).constraints
    lock = resolve(reqs, PY311, None, db)
    assert versions(lock) == {"a": "1.0"}


def test_direct_reference_uses_the_db_file():
    db = FakePyPI().add("a", "1.0").add("a", "2.0")
    dist = db.project("a").releases["1.0"].files[0]
    url = f"https://example.org/wheels/{dist.filename}#sha256={dist.sha256}"
    lock = resolve([f"a @ {url}"], PY311, None, db)
    assert lock.packages["a"]["version"] == "1.0"
    assert lock.packages["a"]["artifact"]["url"] == url.split("#")[0]
    with pytest.raises(NotFoundError, match="not in the database"):
        resolve([f"a @ https://example.org/a-3.0.tar.gz#sha256={'b' * 64}"], PY311, None, db)
    with pytest.raises(UsageError, match="sha256"):
        resolve(["a @ https://example.org/a-3.0.tar.gz"], PY311, None, db)


# ---------------------------------------------------------------------------- errors


def test_conflict_shows_both_chains():
    db = FakePyPI()
    db.add("app", "1.0", ["lib>=2"]).add("lib", "1.0").add("lib", "2.0")
    db.add("other", "1.0", ["middle"]).add("middle", "1.0", ["lib<2"])
    with pytest.raises(ResolutionError) as info:
        resolve(parse_requirements_text("app\nother\n", "reqs.txt"), PY311, None, db)
    message = str(info.value)
    assert "app (reqs.txt:1) -> app 1.0 requires lib>=2" in message
    assert "other (reqs.txt:2) -> other 1.0 requires middle -> middle 1.0 requires lib<2" in message
    assert "Traceback" not in message


def test_unknown_name_suggests_close_names():
    db = FakePyPI().add("requests", "2.0").add("request-id", "1.0")
    with pytest.raises(NotFoundError) as info:
        resolve(["reqeusts"], PY311, None, db)
    assert "did you mean: requests" in str(info.value)


def test_newer_than_the_db_says_how_to_update():
    db = FakePyPI().add("requests", "2.31.0")
    with pytest.raises(NotFoundError) as info:
        resolve(["requests>=2.32"], PY311, None, db)
    message = str(info.value)
    assert "newer than the database" in message and "2.31.0" in message and "db update" in message


def test_no_artifact_for_target_lists_what_exists():
    db = FakePyPI().add(
        "winlib", "1.0", files=["winlib-1.0-cp311-cp311-win_amd64.whl", "winlib-1.0-cp311-cp311-macosx_11_0_arm64.whl"]
    )
    with pytest.raises(NotFoundError) as info:
        resolve(["winlib"], PY311, {"_default": "wheel"}, db)
    message = str(info.value)
    assert "CPython 3.11.7 on x86_64-linux" in message
    assert "cp311-cp311-win_amd64" in message and "macosx_11_0_arm64" in message
    assert "sdist" not in message  # there is none: no hint to allow one
    assert "choose another Python version or system" in message


@pytest.mark.parametrize(
    ("providers", "setting"),
    [
        ({"_default": "wheel"}, 'providers._default = "wheel" (--provider _default=wheel)'),
        ({"WinLib": "wheel,nixpkgs"}, 'providers.winlib = "wheel,nixpkgs" (--provider winlib=wheel,nixpkgs)'),
    ],
)
def test_provider_setting_that_excludes_the_only_usable_artifact_is_named(providers, setting):
    db = FakePyPI().add("winlib", "1.0", files=["winlib-1.0-cp311-cp311-win_amd64.whl", "winlib-1.0.tar.gz"])
    with pytest.raises(NotFoundError) as info:
        resolve(["winlib"], PY311, providers, db)
    message = str(info.value)
    assert f"the provider setting {setting} excludes sdist, which has winlib 1.0" in message
    allowed = providers.get("WinLib", "wheel") + ",sdist"
    assert f'allow it with providers.winlib = "{allowed}" (--provider winlib={allowed})' in message


def test_only_yanked_releases_say_so():
    db = FakePyPI().add("lib", "1.0").add("lib", "2.0", yanked="broken build").add("lib", "2.1", yanked="")
    with pytest.raises(NotFoundError) as info:
        resolve(["lib>=2"], PY311, None, db)
    message = str(info.value)
    assert message.startswith("only yanked releases of lib match lib>=2: 2.1 (yanked), 2.0 (yanked: broken build)")
    assert "pinned exactly (PEP 592): lib==2.1" in message
    assert versions(resolve(["lib==2.0"], PY311, None, db)) == {"lib": "2.0"}


def test_a_missing_project_is_backtracked_around_like_pip():
    """app 2.0 needs a project the database lacks: app 1.0 is chosen (pip does the same
    for a name its index does not know), where the resolution used to stop with exit 4."""
    db = FakePyPI().add("app", "1.0", ["lib"]).add("app", "2.0", ["lib", "vanished>=1"]).add("lib", "1.0")
    assert versions(checked(["app"], db=db)) == {"app": "1.0", "lib": "1.0"}


def test_missing_projects_are_all_named_when_nothing_else_works():
    db = FakePyPI().add("app", "1.0", ["gone-a", "gone-b"]).add("requests", "2.0")
    with pytest.raises(NotFoundError) as info:
        resolve(["app", "reqeusts", "nope-either"], PY311, None, db)
    message = str(info.value)
    # the roots first, all at once
    assert message.startswith("no projects named 'nope-either', 'reqeusts' in the database")
    assert "reqeusts: did you mean requests?" in message
    assert "mach-nix db crawl --db DIR nope-either reqeusts" in message
    with pytest.raises(NotFoundError) as info:
        resolve(["app"], PY311, None, db)
    message = str(info.value)
    assert message.startswith("no projects named 'gone-a', 'gone-b' in the database")
    assert "gone-a required by: app (<requirement 1>) -> app 1.0 requires gone-a" in message
    assert "gone-b required by: app (<requirement 1>) -> app 1.0 requires gone-b" in message
    assert "mach-nix db crawl --db DIR gone-a gone-b" in message


# ---------------------------------------------------------------------------- backtracking, determinism


def test_boto_style_ranges_backtrack_quickly():
    db = FakePyPI()
    for minor in range(400):
        db.add("boto3", f"1.{minor}.0", [f"botocore>=1.{minor}.0,<1.{minor + 1}.0", "s3transfer<0.2"])
        db.add("botocore", f"1.{minor}.0")
    db.add("s3transfer", "0.1.0", ["botocore>=1.0,<2"])
    start = time.perf_counter()
    lock = checked(["boto3", "botocore<1.50"], db=db)
    assert versions(lock)["boto3"] == "1.49.0"
    lock = checked(["boto3", "s3transfer", "botocore==1.3.0"], db=db)
    assert versions(lock)["boto3"] == "1.3.0"
    assert time.perf_counter() - start < 10


def test_lock_bytes_are_deterministic_and_hash_tracks_inputs():
    db = FakePyPI().add("a", "1.0", ["b"]).add("b", "1.0")
    first = resolve(["a"], PY311, None, db).dumps()
    second = resolve(["a"], PY311, None, db).dumps()
    assert first == second and first.endswith("}\n")
    other = resolve(["a"], PY38, None, db).dumps()
    assert other != first
    import json

    assert json.loads(first)["inputs_hash"] != json.loads(other)["inputs_hash"]


# ---------------------------------------------------------------------------- blow-ups (issue 15 item 5)

SNAPSHOT = nixhelpers.REPO / "tests" / "data" / "pypi-db"


def _timed(reqs):
    from mach_nix.db.store import open_database

    db = open_database([SNAPSHOT])
    start = time.perf_counter()
    try:
        return resolve(reqs, PY311, None, db), time.perf_counter() - start
    except ResolutionError as error:
        return error, time.perf_counter() - start


def test_conflict_behind_an_extra_fails_fast():
    """requests[socks] with an idna pin no requests accepts: every requests[socks] candidate
    fails through its base's idna requirement. It used to be found one level down (in
    requests), where backtracking could not see the cause and retried every candidate
    for every version of six and itsdangerous (> 150 s; without [socks]: 0.2 s)."""
    error, seconds = _timed(["requests[socks]>=2.20", "idna==1.0.*", "six", "itsdangerous<1"])
    assert isinstance(error, ResolutionError)
    assert "idna==1.0.*" in str(error) and "require idna<4,>=2.5" in str(error)
    assert seconds < 3, seconds


def test_extras_candidate_still_resolves_its_base_dependencies():
    lock, _ = _timed(["requests[socks]==2.31.0"])
    assert {"requests", "pysocks", "idna", "urllib3", "certifi", "charset-normalizer"} <= set(lock.packages)
    assert lock.packages["idna"]["dependencies"] == []
    assert "requests" in lock.required_by()["pysocks"]


def test_repeated_requirement_lines_cost_one():
    """4,000 copies of one line: resolvelib re-checks every requirement of a name each
    time one is added (quadratic: 11 s before); repeated lines now count once."""
    text = "requests\n" * 4000 + "requests[socks]\n" * 2000
    lock, seconds = _timed(parse_requirements_text(text))
    assert lock.packages["requests"]["root"] and "pysocks" in lock.packages
    assert seconds < 2, seconds


def test_compatible_release_and_wildcard_bound_the_versions_looked_at():
    """~=3.12 and ==5.* admit one series: no candidate (nor, with fetching, metadata) is made
    for the versions above it, pre-releases of the series included in the window."""
    from mach_nix.resolution.versions import ProjectIndex

    db = FakePyPI()
    for version in ["3.11", "3.12", "3.13", "4.0a1", "4.2", "5.0.dev1", "5.0", "5.4", "6.0"]:
        db.add("lib", version)
    index = ProjectIndex(db)
    versions = [vs for _v, vs, _r in index.versions("lib")]

    alive = []  # the index caches windows by the specifiers' identity: keep them alive, as the resolver does

    def window(text):
        alive.append(SpecifierSet(text))
        start, stop = index.window("lib", [alive[-1]])
        return versions[start:stop]

    assert window("~=3.12") == ["3.13", "3.12"]
    assert window("==5.*") == ["5.4", "5.0", "5.0.dev1"]
    assert window("~=3.12,!=3.13") == ["3.13", "3.12"]  # != is checked per candidate
    assert versions_of(resolve(["lib~=3.12"], PY311, None, db)) == {"lib": "3.13"}


def versions_of(lock) -> dict[str, str]:
    return {name: entry["version"] for name, entry in lock.packages.items()}
