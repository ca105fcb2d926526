# Python setup hooks of the double (nixpkgs: pkgs/development/interpreters/python/hooks).
# `pkgs` is the Python package set the hooks take their tools from (the overridden set, so
# overriding build/installer/wheel changes every package's hooks, as in nixpkgs).
{ makeSetupHook, python, pkgs }:
let
  common = {
    pythonInterpreter = python.interpreter;
    pythonSitePackages = python.sitePackages;
  };
  hook = name: deps: extra: script: makeSetupHook {
    inherit name;
    propagatedBuildInputs = deps;
    substitutions = common // extra;
  } script;
in
{
  pypaBuildHook = hook "pypa-build-hook" [ pkgs.build pkgs.wheel ] { } ./pypa-build-hook.sh;
  pypaInstallHook = hook "pypa-install-hook" [ pkgs.installer ] { } ./pypa-install-hook.sh;
  wheelUnpackHook = hook "wheel-unpack-hook" [ pkgs.wheel ] { } ./wheel-unpack-hook.sh;
  setuptoolsBuildHook = hook "setuptools-build-hook" [ pkgs.setuptools pkgs.wheel ] { setuppy = ./run_setup.py; }
    ./setuptools-build-hook.sh;
  pythonCatchConflictsHook = hook "python-catch-conflicts-hook" [ ] { catchConflicts = ./catch_conflicts.py; }
    ./python-catch-conflicts-hook.sh;
  pythonRuntimeDepsCheckHook = hook "python-runtime-deps-check-hook" [ pkgs.packaging ]
    { checkScript = ./runtime_deps_check.py; } ./python-runtime-deps-check-hook.sh;
  pythonRelaxDepsHook = hook "python-relax-deps-hook" [ pkgs.packaging ] { relaxScript = ./relax_deps.py; }
    ./python-relax-deps-hook.sh;
  pythonImportsCheckHook = hook "python-imports-check-hook" [ ] {
    loaderCheck = ../../builders/loader_check.py;
    patchelf = "${pkgs.pkgs.patchelf}/bin/patchelf";
  } ./python-imports-check-hook.sh;
  wrapPython = hook "wrap-python-hook" [ ] { wrapScript = ./wrap_programs.py; } ./wrap-python-hook.sh;
  pytestCheckHook = hook "pytest-check-hook" [ ] { } ./pytest-check-hook.sh;
  pythonRemoveTestsDirHook = hook "python-remove-tests-dir-hook" [ ] { } ./python-remove-tests-dir-hook.sh;
}
