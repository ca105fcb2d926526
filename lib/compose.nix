# The lock as one pythonOverrides extension (self: super: { … }).
#
# Per package of the lock:
#   provider nixpkgs        keep nixpkgs' derivation; rewire its Python dependencies to the
#                           resolved ones, and leave it untouched when they already match
#                           (so the binary cache still hits);
#   wheel/sdist, known      override nixpkgs' recipe (new version and src; native inputs,
#                           patches of the recipe's own build kept for sdists);
#   wheel/sdist, unknown    a fresh buildPythonPackage.
# Every package replaces its attribute *inside* the set, so dependants built from `self`
# all see it and catch-conflicts passes. Tests are off unless `tests = true`; while they are
# off, test-only inputs are dropped so they never reach the runtime closure (nixpkgs issue
# #118452). Dependency cycles are cut at their back edge (the environment still contains
# every package).
{ util, surface }:
{ lock, tests ? false }:
let
  packages = lock.packages;
  names = builtins.attrNames packages;

  # Tools the package set's own hooks are built with: overriding them would rebuild every
  # package or recurse (contract doc §8.6). The set's version is kept.
  buildTools = util.toSet [ "build" "installer" "pip" "pyproject-hooks" "setuptools" "wheel" "flit-core" "packaging" ];

  # Back edges of the dependency graph (depth-first from the sorted names): "a>b" cuts a -> b.
  backEdges =
    let
      visit = state: name:
        if state.done ? ${name} then state
        else
          let
            entered = state // { onPath = state.onPath // { ${name} = true; }; };
            afterDeps = builtins.foldl'
              (st: dep:
                if !(packages ? ${dep}) then st
                else if st.onPath ? ${dep} then st // { cut = st.cut // { "${name}>${dep}" = true; }; }
                else visit st dep)
              entered
              (packages.${name}.dependencies or [ ]);
          in afterDeps // {
            onPath = builtins.removeAttrs afterDeps.onPath [ name ];
            done = afterDeps.done // { ${name} = true; };
          };
    in (builtins.foldl' visit { done = { }; onPath = { }; cut = { }; } names).cut;

  # A package whose dependency edge was cut cannot import that dependency while it is built.
  hasCutEdge = name: builtins.any (dep: backEdges ? "${name}>${dep}") (packages.${name}.dependencies or [ ]);

  depsOf = name: builtins.filter (dep: packages ? ${dep} && !(backEdges ? "${name}>${dep}")) (packages.${name}.dependencies or [ ]);

  isNativeWheel = filename: builtins.match ".*-(manylinux|musllinux|linux)_.*\\.whl" filename != null;

  fetchArtifact = artifact: surface.fetchurl {
    url = artifact.url;
    sha256 = artifact.sha256;
    name = artifact.filename;
  };

  # Arguments every generated or overridden package gets.
  commonArgs = entry: deps: old: {
    version = entry.version;
    dependencies = deps;
    propagatedBuildInputs = [ ];
    doCheck = tests;
    # The resolver has already checked every Requires-Dist against the lock.
    dontCheckRuntimeDeps = true;
    # nixpkgs' passthru (e.g. numpy.blas) is kept, plus what mach-nix chose.
    passthru = (old.passthru or { }) // { machNix = { inherit (entry) provider; root = entry.root or false; }; };
  } // util.optionalAttrs (hasCutEdge entry.name) {
    dontUsePythonImportsCheck = true;
  } // util.optionalAttrs (!tests) {
    nativeCheckInputs = [ ];
    checkInputs = [ ];
  };

  # A wheel needs no build: the recipe's build tools are dropped (their setup hooks, e.g.
  # cmake's or maturin's, would take over phases), its libraries are kept for autoPatchelf.
  wheelArgs = entry: old: {
    src = fetchArtifact entry.artifact;
    format = "wheel";
    pyproject = null;
    patches = [ ];
    postPatch = "";
    # The recipe's phase snippets expect its source tree, which a wheel does not have
    # (`_.<name>.postInstall = …` adds one back).
    preConfigure = "";
    preBuild = "";
    preInstall = "";
    postInstall = "";
    sourceRoot = ".";
    build-system = [ ];
    nativeBuildInputs = util.optionals (surface.isLinux && isNativeWheel entry.artifact.filename) [ surface.autoPatchelfHook ];
    dontStrip = true;
  } // util.optionalAttrs (surface.isLinux && isNativeWheel entry.artifact.filename) {
    buildInputs = (old.buildInputs or [ ]) ++ surface.wheelLibraries;
  };

  sdistArgs = self: super: entry: old: {
    src = fetchArtifact entry.artifact;
    pyproject = true;
    format = null;
    build-system = (old.build-system or [ ]) ++ map
      (req:
        let n = util.requirementName req; in
        if super ? ${n} then super.${n}
        else throw "mach-nix: ${entry.name} ${entry.version} (sdist) needs the build tool '${n}', which this Python package set does not have. Add it with `overridesPre`, or choose the wheel: providers.${entry.name} = \"wheel\";")
      (entry.build_requires or [ ]);
    # pypa/build would refuse the set's build tools when the sdist pins other versions.
    pypaBuildFlags = [ "--skip-dependency-check" ];
  } // util.optionalAttrs ((old.version or null) != entry.version) {
    # The recipe's patches were written for its own version.
    patches = [ ];
  };

  known = super: name: super ? ${name} && (builtins.tryEval (util.isDerivation super.${name})).value;

  mkPackage = self: super: name:
    let
      entry = packages.${name};
      deps = map (dep: self.${dep}) (depsOf name);
      override = drv: f: if drv ? overridePythonAttrs then drv.overridePythonAttrs f else drv.overrideAttrs f;
      fresh = extra: self.buildPythonPackage ({ pname = name; } // commonArgs entry deps { } // extra);
    in
    if entry.provider == "nixpkgs" then
      let
        drv = super.${entry.nixpkgs_attr}
          or (throw "mach-nix: the lock wants python.pkgs.${entry.nixpkgs_attr} (for ${name}), which this nixpkgs does not have; re-run the resolution against it");
        oldDeps = builtins.filter (d: builtins.isAttrs d && d ? pythonModule) (drv.propagatedBuildInputs or [ ]);
        outPaths = ds: builtins.sort builtins.lessThan (map (d: d.outPath) ds);
        # Unknown dependencies (version not in the DB): keep nixpkgs' own, which already come
        # from the final set. Known ones: rewire only when they differ.
        sameDeps = !(entry.dependencies_known or false) || outPaths oldDeps == outPaths deps;
      in
      if sameDeps && !tests then drv
      else override drv (old: { dependencies = deps; propagatedBuildInputs = [ ]; doCheck = tests; dontCheckRuntimeDeps = true; }
        // util.optionalAttrs (!tests) { nativeCheckInputs = [ ]; checkInputs = [ ]; })
    else if entry.provider == "wheel" then
      if known super name
      then override super.${name} (old: commonArgs entry deps old // wheelArgs entry old)
      else fresh (wheelArgs entry { })
    else if entry.provider == "sdist" then
      if known super name
      then override super.${name} (old: commonArgs entry deps old // sdistArgs self super entry old)
      else fresh (sdistArgs self super entry { })
    else throw "mach-nix: unknown provider '${entry.provider}' for ${name} in the lock";

  keepsSetVersion = name: buildTools ? ${name};
in
{
  /* The extension: self: super: { <name> = <package>; … } for every package of the lock. */
  overrides = self: super: builtins.listToAttrs (map
    (name: {
      inherit name;
      value =
        if keepsSetVersion name && known super name then
          (if (super.${name}.version or null) != packages.${name}.version
           then builtins.trace "mach-nix: keeping ${name} ${super.${name}.version} of the package set (it builds every package); the lock has ${packages.${name}.version}" super.${name}
           else super.${name})
        else mkPackage self super name;
    })
    names);

  /* Select every package of the lock from a (final) package set: the environment's content. */
  select = ps: map (name: ps.${name}) names;

  /* Select the root packages only. */
  selectRoots = ps: map (name: ps.${name}) (lock.roots or [ ]);
}
