"""Shared pytest set-up: the Nix runner and the test double of nixpkgs.

Tests marked ``nix`` need a working ``nix-build``. Locally they are skipped when
Nix is missing; in CI (``CI`` set) a missing Nix is an error, never a skip.

Every test runs the work tree's ``mach_nix``: pytest's ``pythonpath`` puts ``resolver/``
first on ``sys.path``, and this file puts it first on ``PYTHONPATH`` for the subprocesses
the tests start (``python -m mach_nix …``), so an installed copy is never what is tested.
"""

from __future__ import annotations

import os
import tempfile

import pytest

import nixhelpers

_RESOLVER = str(nixhelpers.REPO / "resolver")
os.environ["PYTHONPATH"] = os.pathsep.join([_RESOLVER, *filter(None, [os.environ.get("PYTHONPATH")])])
# `mach-nix lock` reads native wheels from PyPI to record their needs: tests never use the real
# registry, so it is off unless a test turns it on (tests/test_native_needs.py, with a fake one).
os.environ["MACH_NIX_NATIVE_NEEDS"] = "off"

# No test reaches a registry by accident, nor the user's cache of fetched metadata: `lock` and
# `resolve` fetch what their databases lack from MACH_NIX_INDEX_URL, here a closed loopback port
# (tests that fetch start the loopback registry of tests/fakepypi.py and name it), into a cache
# of this session. Tests marked `network` get the real registry back (fixture below).
_REAL_INDEX = os.environ.get("MACH_NIX_INDEX_URL", "https://pypi.org/simple/")
os.environ.setdefault("MACH_NIX_CACHE", tempfile.mkdtemp(prefix="mach-nix-test-cache-"))
os.environ["MACH_NIX_INDEX_URL"] = "http://127.0.0.1:9/simple/"
os.environ.setdefault("MACH_NIX_HTTP_RETRIES", "0")
# Nor a published database by accident (a pin in the working directory or the checkout): with no
# --db the default is the cache alone; tests of the default set MACH_NIX_PIN to a loopback pin.
os.environ["MACH_NIX_PIN"] = "none"
# Progress lines are drawn only on a terminal; a developer's MACH_NIX_QUIET must not change that.
os.environ.pop("MACH_NIX_QUIET", None)


@pytest.fixture(autouse=True)
def _real_registry_for_network_tests(request, monkeypatch):
    if "network" in request.keywords:
        from mach_nix.db import http

        monkeypatch.setenv("MACH_NIX_INDEX_URL", _REAL_INDEX)
        monkeypatch.delenv("MACH_NIX_HTTP_RETRIES", raising=False)
        monkeypatch.setattr(http, "SIMPLE_URL", _REAL_INDEX)


def pytest_collection_modifyitems(config, items):
    if nixhelpers.have_nix():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI is set but `nix-build` is not installed: .ci/run must install Nix (nix-bin)")
    skip = pytest.mark.skip(reason="nix-build not installed (CI installs it; see .ci/run)")
    for item in items:
        if "nix" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def nix():
    """The Nix runner (see tests/nixhelpers.py), with the double configured for this host."""
    if nixhelpers.uses_double():
        nixhelpers.configure_double()
    return nixhelpers


@pytest.fixture(scope="session")
def pkgs_expr(nix) -> str:
    """Nix expression of the nixpkgs under test (the double, or MACH_NIX_TEST_NIXPKGS)."""
    return nix.nixpkgs_expr()
