# A test double of nixpkgs, limited to what mach-nix uses: `import ./tests/nixpkgs {}` gives a
# `pkgs` with python3 / python311 (the host CPython), their package sets built from real PyPI
# artifacts, and the build helpers listed in ../../lib/nixpkgs.nix. It follows
# docs/nixpkgs-contract.md (README.md here: what it still simplifies). Run
# `python tests/nixpkgs/configure.py` first (the test suite does it) to describe the host in host.json.
#
# As nixpkgs, it takes the platform it builds for as `localSystem` (a system string or
# `{ system = …; }`) or the older `system`; default: the host's. `stdenv.hostPlatform.system` is
# that system, and so is every derivation's `system`: another system's packages evaluate, and Nix
# refuses to build them here, as with nixpkgs on a machine of another platform.
{ system ? null
, localSystem ? null
, config ? { }
, overlays ? [ ]
, host ? (if builtins.pathExists ./host.json
          then builtins.fromJSON (builtins.readFile ./host.json)
          else throw ("tests/nixpkgs/host.json is missing: run `python tests/nixpkgs/configure.py` "
            + "with the interpreter the double should wrap"))
}:
let
  lib = import ./lib.nix;
  chosen =
    if localSystem != null then (if builtins.isString localSystem then localSystem else localSystem.system)
    else system;
  # the host's description, for the system asked for
  platformHost = if chosen == null then host else host // { system = chosen; };
  stdenv = import ./stdenv { inherit lib config; host = platformHost; };
  buildSupport = import ./build-support.nix { inherit lib stdenv; host = platformHost; };

  basePkgs = self: buildSupport // {
    inherit lib stdenv config;
    inherit (platformHost) system;
    path = ./.;
    pythonPackagesExtensions = [ ];
    patchelf = stdenv.mkDerivation {
      pname = "patchelf"; version = "host";
      buildCommand = "mkdir -p $out/bin; ln -s ${platformHost.patchelf} $out/bin/patchelf";
    };
    pkgs = self;
    buildPackages = self;
    pkgsBuildHost = self;
    # `import pkgs.path { overlays = …; }`: mkNixpkgs uses it.
    appendOverlays = extra: import ./. { inherit config host; localSystem = platformHost.system;
      overlays = overlays ++ extra; };
  } // import ./python {
    inherit lib stdenv buildSupport config;
    host = platformHost;
    pkgs = self;
    pythonPackagesExtensions = self.pythonPackagesExtensions;
  } // {
    python3Packages = self.python3.pkgs;
  };

  pkgs = lib.fix (builtins.foldl' (f: overlay: lib.extends overlay f) basePkgs overlays);
in
pkgs
