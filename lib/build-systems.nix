# The lock's build systems (docs/lock-format.md, `build_packages`): every build package a
# derivation built from its wheel, and an sdist's `build_system` as the list of them that
# goes into its `build-system`.
#
# Build packages are NOT part of the overlay scope: their versions may differ from the
# runtime packages of the same name (a build closure's packaging next to the environment's),
# and each sdist gets exactly its own closure (build isolation, as pip and uv). So that
# neither nixpkgs' catchConflicts nor its pythonRuntimeDepsCheck sees two versions of one
# project, a build package propagates nothing: its dependencies are other members of the
# same closure, which the sdist lists itself (a closure is stored complete, not as roots).
# They are installed from wheels with the package set's installer (pypaInstallHook), so
# they never need a build system of their own.
{ util, surface }:
let
  wheels = import ./wheels.nix { };
  native = import ./native.nix { inherit util surface; };
in
{
  /*
    Every entry of `build_packages` as a derivation, keyed like `build_packages`.

    Type: derivations :: { pythonPackages :: AttrSet, buildPackages :: AttrSet } -> AttrSet
  */
  derivations = { pythonPackages, buildPackages }: builtins.mapAttrs
    (key: entry: pythonPackages.buildPythonPackage ({
      pname = entry.name;
      inherit (entry) version;
      format = "wheel";
      src = surface.fetchurl { inherit (entry.artifact) url sha256; name = entry.artifact.filename; };
      # Its dependencies are beside it in the sdist's build-system (see above), not propagated.
      dependencies = [ ];
      doCheck = false;
      dontCheckRuntimeDeps = true;
      dontUsePythonImportsCheck = true;
      dontStrip = true;
      # A build tool is a build input only: it never reaches an environment.
      catchConflicts = false;
      passthru.machNix = { build = true; inherit key; };
    } // util.optionalAttrs (surface.isLinux && wheels.isLinuxNative entry.artifact.filename) (
      # A native build wheel (numpy for its C API, cython) is patched like a runtime one; its
      # libraries are native.nix's defaults (the lock records `needed` for runtime wheels only).
      { nativeBuildInputs = [ surface.autoPatchelfHook ]; }
      // native.wheelArgs { inherit entry; old = { }; searchPaths = [ ]; })))
    buildPackages;

  /*
    The build-system of one lock entry: its closure's derivations, in the lock's order.

    Type: closureOf :: AttrSet -> LockEntry -> [Derivation]
  */
  closureOf = drvs: entry: map (key: drvs.${key}) (entry.build_system or [ ]);

  /*
    Shell that puts a build closure's site-packages first on PYTHONPATH (the set's hooks
    propagate their own tools, which would shadow the closure's versions).

    Type: pythonPathFirst :: String -> [Derivation] -> String
  */
  pythonPathFirst = sitePackages: drvs:
    let paths = builtins.concatStringsSep ":" (map (d: "${d}/${sitePackages}") drvs); in
    if drvs == [ ] then "" else ''
      export PYTHONPATH="${paths}''${PYTHONPATH:+:$PYTHONPATH}"
    '';
}
