# Interpreters of the double: the host CPython wrapped as `python3` / `python311`, with
# nixpkgs' passthru (pkgs, withPackages, buildEnv, override { packageOverrides; self; }, …).
# nixpkgs: pkgs/development/interpreters/python/{default,passthrufun,cpython/default}.nix.
{ lib, host, stdenv, buildSupport, pkgs, config, pythonPackagesExtensions }:
let
  versionParts = builtins.splitVersion host.pythonVersion;
  major = builtins.elemAt versionParts 0;
  minor = builtins.elemAt versionParts 1;
  pythonVersion = "${major}.${minor}";
  libPrefix = "python${pythonVersion}";
  executable = libPrefix;
  sitePackages = "lib/${libPrefix}/site-packages";
  hostBinDir = builtins.dirOf host.python;

  # The interpreter's store path: bin/ links to the host binary next to a pyvenv.cfg that
  # hides the host's site-packages; a setup hook puts dependencies' site-packages on PYTHONPATH.
  interpreterDrv = derivation {
    name = "python3-${host.pythonVersion}";
    system = host.system;
    builder = host.bash;
    args = [ "-c" ''
      set -e
      PATH=${host.path}
      mkdir -p $out/bin $out/${sitePackages} $out/nix-support
      ln -s ${host.python} $out/bin/${executable}
      ln -s ${executable} $out/bin/python${major}
      ln -s ${executable} $out/bin/python
      printf 'home = %s\ninclude-system-site-packages = false\nversion = %s\n' \
        ${hostBinDir} ${host.pythonVersion} > $out/pyvenv.cfg
      cat > $out/nix-support/setup-hook <<'EOF'
      addPythonPath() { addToSearchPath PYTHONPATH "$1/${sitePackages}"; }
      addEnvHooks "$hostOffset" addPythonPath
      export PYTHONNOUSERSITE=1
      export PYTHONHASHSEED=0
      EOF
    '' ];
  };

  mkInterpreter = pythonAttr:
    lib.makeOverridable ({ packageOverrides ? (self: super: { }), self ? null }:
      let
        python = interpreterDrv // passthru // { inherit passthru; };
        # `self`: the interpreter the package set and the env builder refer to. nixpkgs' default
        # is the top-level, un-overridden interpreter of the same attribute.
        selfPython = if self != null then self else topLevel.${pythonAttr};
        pythonPackages = import ./python-packages-base.nix {
          inherit lib stdenv buildSupport config pkgs packageOverrides pythonPackagesExtensions;
          python = selfPython;
        };
        buildEnv = lib.makeOverridable (import ./wrapper.nix) {
          inherit lib host stdenv;
          python = selfPython;
          inherit (pythonPackages) requiredPythonModules;
          extraLibs = [ ];
        };
        passthru = {
          inherit pythonVersion libPrefix executable sitePackages pythonAttr;
          version = host.pythonVersion;
          pname = "python3";
          implementation = "cpython";
          sourceVersion = { inherit major minor; patch = builtins.elemAt versionParts 2; suffix = ""; };
          interpreter = "${interpreterDrv}/bin/${executable}";
          isPy3k = true; isPy3 = true; isPyPy = false;
          "isPy${major}${minor}" = true;
          pythonAtLeast = lib.versionAtLeast pythonVersion;
          pythonOlder = lib.versionOlder pythonVersion;
          pkgs = pythonPackages;
          withPackages = f: buildEnv.override { extraLibs = f pythonPackages; };
          inherit buildEnv stdenv;
          # No cross-compilation here: every "on build for …" interpreter is this one, with the
          # same overrides (as cpython's passthru re-applies packageOverrides to them).
          pythonOnBuildForHost = python;
          pythonOnBuildForBuild = python;
          pythonOnBuildForTarget = python;
          pythonOnHostForHost = python;
          pythonOnTargetForTarget = python;
          hasDistutilsCxxPatch = false;
          meta = {
            platforms = [ host.system ];
            description = "host CPython ${host.pythonVersion} (mach-nix test double)";
          };
        };
      in
      python
    ) { };

  topLevel = {
    python3 = mkInterpreter "python3";
    "python${major}${minor}" = mkInterpreter "python${major}${minor}";
  };
in
topLevel
