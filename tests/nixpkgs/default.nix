# A test double of nixpkgs, limited to what mach-nix uses: `import ./tests/nixpkgs {}` gives a
# `pkgs` with python3 / python311 (the host CPython), their package sets built from real PyPI
# artifacts, and the build helpers listed in ../../lib/nixpkgs.nix. It follows
# docs/nixpkgs-contract.md (README.md here: what it still simplifies). Run
# `python tests/nixpkgs/configure.py` first (the test suite does it) to describe the host in host.json.
{ system ? null
, config ? { }
, overlays ? [ ]
, host ? (if builtins.pathExists ./host.json
          then builtins.fromJSON (builtins.readFile ./host.json)
          else throw ("tests/nixpkgs/host.json is missing: run `python tests/nixpkgs/configure.py` "
            + "with the interpreter the double should wrap"))
}:
let
  lib = import ./lib.nix;
  stdenv = import ./stdenv { inherit lib host config; };
  buildSupport = import ./build-support.nix { inherit lib host stdenv; };

  basePkgs = self: buildSupport // {
    inherit lib stdenv config;
    inherit (host) system;
    path = ./.;
    pythonPackagesExtensions = [ ];
    patchelf = stdenv.mkDerivation {
      pname = "patchelf"; version = "host";
      buildCommand = "mkdir -p $out/bin; ln -s ${host.patchelf} $out/bin/patchelf";
    };
    pkgs = self;
    buildPackages = self;
    pkgsBuildHost = self;
    # `import pkgs.path { overlays = …; }`: mkNixpkgs uses it.
    appendOverlays = extra: import ./. { inherit system config host; overlays = overlays ++ extra; };
  } // import ./python {
    inherit lib host stdenv buildSupport config;
    pkgs = self;
    pythonPackagesExtensions = self.pythonPackagesExtensions;
  } // {
    python3Packages = self.python3.pkgs;
  };

  pkgs = lib.fix (builtins.foldl' (f: overlay: lib.extends overlay f) basePkgs overlays);
in
pkgs
