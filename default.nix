# mach-nix: Python requirements in, a Nix-built Python environment out.
#
#   let mach-nix = import ./. { };   # or { pkgs = import <nixpkgs> { }; pypiData = [ ./my-db ]; }
#   in mach-nix.mkPython { requirements = builtins.readFile ./requirements.txt; }
#
# pkgs      the nixpkgs to build with (default: <nixpkgs> from NIX_PATH; the flake pins one)
# pypiData  the PyPI metadata database(s): a directory or a list of them, later ones winning
#           (default: the database bundled with this checkout)
# python    the interpreter attribute environments use by default ("python3", "python311", …)
#
# Type: mach-nix :: { pkgs ? Nixpkgs, pypiData ? Path | [Path], python ? String } -> (see lib/default.nix)
{ pkgs ? import <nixpkgs> { }
, pypiData ? ./tests/data/pypi-db
, python ? "python3"
}:
import ./lib { inherit pkgs pypiData python; }
