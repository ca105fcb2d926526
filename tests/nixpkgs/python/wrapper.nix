# python.buildEnv of the double (nixpkgs: python/wrapper.nix): one tree merging the
# interpreter and the closure of `extraLibs`, whose bin/python sees exactly those packages.
{ lib, host, stdenv, python, requiredPythonModules
, extraLibs ? [ ]
, extraOutputsToInstall ? [ ]
, postBuild ? ""
, ignoreCollisions ? false
, permitUserSite ? false
, makeWrapperArgs ? [ ]
}:
let
  paths = requiredPythonModules extraLibs;
  env = stdenv.mkDerivation {
    name = "${python.name}-env";
    inherit paths postBuild;
    ignoreCollisions = if ignoreCollisions then "1" else "";
    permitUserSite = if permitUserSite then "1" else "";
    makeWrapperArgs = builtins.toJSON makeWrapperArgs;
    buildCommand = ''
      ${host.python} ${../builders/python_env.py} "$out" ${python} "${python.sitePackages}" "${python.executable}"
      # What nixpkgs' loader would refuse at import time (the host's loader would not).
      ${host.python} ${../builders/loader_check.py} ${host.patchelf} $(for p in $paths; do
        [ "$p" = ${python} ] || echo "$p"; done)
      eval "$postBuild"
    '';
    passthru = python.passthru // {
      interpreter = "${env}/bin/${python.executable}";
      inherit python;
      env = throw "python.buildEnv …: `env` is an interactive-only environment: use nix-shell on it, not nix-build";
    };
  };
in
env
