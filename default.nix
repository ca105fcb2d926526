# mach-nix: Python requirements in, a Nix-built Python environment out.
#
#   let mach-nix = import ./. { };   # or { pkgs = import <nixpkgs> { }; pypiData = [ ./my-db ]; }
#   in mach-nix.mkPython { requirements = builtins.readFile ./requirements.txt; }
#
# pkgs      the nixpkgs to build with (default: <nixpkgs> from NIX_PATH; the flake pins one)
# pypiData  the PyPI metadata database(s): a directory, a list of them (later ones winning), or
#           mach-nix.fetchPypiData { url; sha256; } (default: the published release that
#           ./pypi-data.json pins, written by `mach-nix db pin`; without that file, the database
#           bundled with this checkout)
# python    the interpreter attribute environments use by default ("python3", "python311", …)
#
# Type: mach-nix :: { pkgs ? Nixpkgs, pypiData ? Path | [Path] | Derivation, python ? String }
#   -> (see lib/default.nix)
{ pkgs ? import <nixpkgs> { }
, pypiData ? null
, python ? "python3"
}:
let
  published = import ./lib/pypi-data.nix { surface = import ./lib/nixpkgs.nix pkgs; };
in
import ./lib {
  inherit pkgs python;
  pypiData = if pypiData != null then pypiData else published.pinned ./pypi-data.json ./tests/data/pypi-db;
}
