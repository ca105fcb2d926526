# The lock as one pythonOverrides extension (self: super: { … }).
#
# Per package of the lock:
#   provider nixpkgs        keep nixpkgs' derivation when its whole dependency closure is the
#                           lock's (same names and versions: a binary-cache hit); otherwise
#                           rewire its Python dependencies to the resolved ones;
#   wheel/sdist, known      override nixpkgs' recipe (new version and src; native inputs,
#                           patches of the recipe's own build kept for sdists);
#   wheel/sdist, unknown    a fresh buildPythonPackage.
# Every package replaces its attribute *inside* the set, so dependants built from `self`
# all see it and catch-conflicts passes. Tests are off unless `tests = true`; while they are
# off, test-only inputs are dropped so they never reach the runtime closure (nixpkgs issue
# #118452). Dependency cycles are cut at a back edge (the environment still contains every
# package), preferably one of a package that is rebuilt anyway.
#
# Whether a nixpkgs package is kept is decided from the lock and from `basePackages`, the
# package set before these overrides: never from `self` or `super`, whose values depend on
# that decision (deciding from them is an infinite recursion as soon as two nixpkgs
# packages form a cycle in the lock).
{ util, surface }:
/*
  Type: compose :: { lock :: Lock, tests :: Bool, basePackages :: AttrSet, lockRoot :: Path | Null }
    -> { overrides :: Extension, select, selectRoots, plan }
*/
{ lock, tests ? false, basePackages, lockRoot ? null }:
let
  graph = import ./graph.nix { };
  buildSystems = import ./build-systems.nix { inherit util surface; };
  # The lock's build packages as derivations of the set's builder (outside the overlay scope).
  buildDrvs = self: buildSystems.derivations { pythonPackages = self; buildPackages = lock.build_packages or { }; };
  local = import ./local.nix { inherit util surface; };
  packages = lock.packages;
  names = builtins.attrNames packages;

  # Tools the package set's own hooks are built with: overriding them in the set would rebuild
  # every package or recurse (docs/nixpkgs-contract.md §9), so the set's attribute stays the
  # set's. The environment and every package of the lock get the lock's version instead, as a
  # derivation outside the scope (`runtimeOf`): what the lock says is what is installed.
  buildTools = util.toSet [ "build" "installer" "pip" "pyproject-hooks" "setuptools" "wheel" "flit-core" "packaging" ];
  # A hook tool of the lock whose version is not the set's: built apart from the scope.
  apart = super: name: buildTools ? ${name} && inSet super name
    && (super.${name}.version or null) != packages.${name}.version;
  # The runtime package of a lock name, for the dependencies of the lock's packages and the
  # environment: the scope's, or a hook tool of the lock's version built apart.
  runtimeOf = self: super: name: if apart super name then mkPackage self super name else self.${name};
  # A recipe's own dependency that is such a tool (a nixpkgs package whose dependencies the
  # database does not know keeps its recipe's): replaced by the lock's version.
  swapTool = self: super: d:
    let n = if util.isPythonPackage d then util.pythonName d else null; in
    if n != null && packages ? ${n} && apart super n then runtimeOf self super n else d;

  isNixpkgs = name: packages.${name}.provider == "nixpkgs";

  # The attribute of the set that holds a lock entry's project: the lock's `nixpkgs_attr`,
  # the name itself, or else an attribute named like a variant of it whose pname is the
  # name (`pygobject3` for pygobject), found in the name index (built only when needed).
  inventory = import ./inventory.nix { inherit util; };
  byName = inventory.index basePackages;
  isProject = name: attr:
    let r = builtins.tryEval (util.isDerivation basePackages.${attr} && util.pythonName basePackages.${attr} == name);
    in r.success && r.value;
  attrOf = name:
    let candidates = builtins.filter (isProject name) (byName.${name} or [ ]); in
    packages.${name}.nixpkgs_attr or (
      if basePackages ? ${name} || candidates == [ ] then name else builtins.head candidates);
  inLock = builtins.filter (dep: packages ? ${dep});

  # The Python dependencies of nixpkgs' recipe, as { name; version; }, read from the base set.
  recipeDeps = name:
    map (d: { name = util.pythonName d; version = d.version or null; })
      (builtins.filter util.isPythonPackage (basePackages.${attrOf name}.propagatedBuildInputs or [ ]));
  recipeDepsOf = builtins.listToAttrs (map (name: { inherit name; value = recipeDeps name; })
    (builtins.filter isNixpkgs names));
  depsKnown = name: packages.${name}.dependencies_known or false;

  # The edges the built packages will have: a nixpkgs package whose dependencies the DB
  # does not know keeps its recipe's; every other package gets the lock's.
  edges = builtins.listToAttrs (map
    (name: {
      inherit name;
      value =
        if isNixpkgs name && !(depsKnown name) then inLock (map (d: d.name) recipeDepsOf.${name})
        else inLock (packages.${name}.dependencies or [ ]);
    })
    names);

  # Edges that exist in nixpkgs' recipes: a cycle is cut elsewhere whenever it can be.
  preferred = builtins.mapAttrs (name: deps: inLock (map (d: d.name) deps)) recipeDepsOf;
  backEdges = graph.backEdges { inherit edges preferred; };

  # A package whose dependency edge was cut cannot import that dependency while it is built.
  hasCutEdge = name: builtins.any (dep: backEdges ? "${name}>${dep}") edges.${name};
  depsOf = name: builtins.filter (dep: !(backEdges ? "${name}>${dep}")) edges.${name};

  # A nixpkgs package is unchanged when the Python dependencies of its recipe are the ones
  # it gets here (names and versions) and are unchanged themselves: nixpkgs' derivation is
  # then exactly what the lock asks for. (The recursion follows recipe edges, which never
  # form a cycle.)
  sameAsLock = name:
    let
      byName = ds: builtins.sort (a: b: a.name < b.name) ds;
      locked = map (dep: { name = dep; version = packages.${dep}.version; }) (depsOf name);
      recipe = recipeDepsOf.${name};
    in
    if depsKnown name then byName recipe == byName locked
    else !(hasCutEdge name)
      && builtins.all (d: !(packages ? ${d.name}) || packages.${d.name}.version == d.version) recipe;
  unchanged = builtins.listToAttrs (map
    (name: {
      inherit name;
      value = isNixpkgs name && sameAsLock name && builtins.all (dep: unchanged.${dep}) (depsOf name);
    })
    names);
  kept = name: unchanged.${name} && !tests;

  wheels = import ./wheels.nix { };
  native = import ./native.nix { inherit util surface; };
  collisions = import ./collisions.nix { };
  # Every Linux native wheel (any manylinux/musllinux spelling, or plain linux_*) is patched.
  patchesElf = entry: surface.isLinux && wheels.isLinuxNative entry.artifact.filename;

  fetchArtifact = artifact: surface.fetchurl {
    url = artifact.url;
    sha256 = artifact.sha256;
    name = artifact.filename;
  };

  # nixpkgs' verdicts on its own recipe (it does not build, or not for this interpreter)
  # do not apply to the artifact the resolver chose for the target: dropped. Licences and
  # known vulnerabilities are kept. A wheel was chosen for the platform, so the recipe's
  # platform list goes too.
  verdictsCleared = { forWheel }: old: util.optionalAttrs (old ? disabled) { disabled = false; }
    // util.optionalAttrs (old ? meta) {
      meta = builtins.removeAttrs old.meta ([ "broken" ] ++ util.optionals forWheel [ "platforms" "badPlatforms" ])
        // util.optionalAttrs (old.meta ? problems) {
          problems = builtins.removeAttrs old.meta.problems [ "unsupportedPython" "broken" "unsupported" ];
        };
    };

  nonPython = builtins.filter (d: !(util.isPythonPackage d));

  # Arguments every generated or overridden package gets.
  commonArgs = entry: deps: old: {
    version = entry.version;
    dependencies = deps;
    # The recipe's Python dependencies are replaced by the lock's; its native ones (a C
    # library a patch refers to) are kept.
    propagatedBuildInputs = nonPython (old.propagatedBuildInputs or [ ]);
    doCheck = tests;
    # The resolver has already checked every Requires-Dist against the lock.
    dontCheckRuntimeDeps = true;
    # nixpkgs' passthru (e.g. numpy.blas) is kept, plus what mach-nix chose.
    passthru = (old.passthru or { }) // { machNix = { inherit (entry) provider; root = entry.root or false; }; };
  } // util.optionalAttrs (hasCutEdge entry.name || !(entry.dependencies_listed or true)) {
    # A cut edge, or dependencies the lock does not list (a pip-written pylock.toml): the
    # build cannot import the package before the environment has its dependencies.
    dontUsePythonImportsCheck = true;
  } // util.optionalAttrs (!tests) {
    nativeCheckInputs = [ ];
    checkInputs = [ ];
  };

  # The recipe's shell snippets and own phases, written for its source tree and build.
  snippets = [ "preUnpack" "postUnpack" "prePatch" "postPatch" "preConfigure" "postConfigure" "preBuild" "postBuild"
    "preInstall" "postInstall" "preFixup" "postFixup" ];
  phases = [ "unpackPhase" "patchPhase" "configurePhase" "buildPhase" "installPhase" ];
  present = old: set: builtins.listToAttrs (map (name: { inherit name; value = set.${name}; })
    (builtins.filter (name: old ? ${name}) (builtins.attrNames set)));

  # A recipe's source patches applied to the installed wheel, those that apply to it
  # exactly: a patch that injects a library's store path into an installed module (as
  # nixpkgs does for libraries loaded with dlopen) applies; one of the source build
  # (setup.py, tests) finds no such file and is skipped.
  applyPatches = sitePackages: ''
    pushd "$out/${sitePackages}" >/dev/null
    for patch in $machNixPatches; do
      if patch ''${patchFlags:--p1} --dry-run --forward --fuzz=0 --silent < "$patch" >/dev/null 2>&1; then
        echo "mach-nix: applying nixpkgs' patch $patch to the installed wheel"
        patch ''${patchFlags:--p1} --forward --fuzz=0 < "$patch"
      else
        echo "mach-nix: nixpkgs' patch $patch does not apply to the installed wheel" \
          "(a patch of the source build): skipped"
      fi
    done
    popd >/dev/null
  '';

  # A wheel is installed, not built: the recipe's build tools (their setup hooks, e.g.
  # cmake's or maturin's, would take over phases), snippets, phases, vendored crates and
  # dependency relaxing go; its libraries stay for autoPatchelf. Its tests cannot run: a
  # wheel has no test tree.
  wheelArgs = self: entry: old: present old (util.genAttrs snippets (_: ""))
    // present old (util.genAttrs phases (_: null))
    // {
      src = fetchArtifact entry.artifact;
      format = "wheel";
      pyproject = null;
      patches = [ ];
      sourceRoot = ".";
      build-system = [ ];
      nativeBuildInputs = util.optionals (patchesElf entry) [ surface.autoPatchelfHook ];
      dontStrip = true;
      # Nothing to build: the build phase, with the relax-deps hook that nixpkgs runs after
      # it (it re-validates the wheel's METADATA), is skipped.
      dontBuild = true;
      doCheck = false;
    } // present old {
      # Extra outputs (`testout`, `doc`) are filled by the recipe's build from its source
      # tree; a wheel has neither, and a declared output nobody writes fails the build.
      # buildPythonPackage appends `dist`.
      outputs = [ "out" ];
      # Newest nixpkgs: a `test_src` output copied from the source tree.
      testPaths = [ ];
      # Fixed-output crates of the recipe's version: never needed, maybe not fetchable.
      cargoDeps = null;
      pythonRelaxDeps = [ ];
      pythonRemoveDeps = [ ];
    } // util.optionalAttrs ((old.patches or [ ]) != [ ]) {
      machNixPatches = old.patches;
      postInstall = applyPatches self.python.sitePackages;
      # A script a dependency installs too (tensorflow's and tensorboard's bin/tensorboard) is
      # the dependency's: removed here, with a note, instead of a collision in the environment.
      preFixup = collisions.dropFilesOfDependencies entry;
    } // util.optionalAttrs (patchesElf entry) (
      let args = native.wheelArgs { inherit entry old; searchPaths = librarySearchPaths self entry; }; in
      # Before autoPatchelf: a needed soname no input provides fails with its name and the fix.
      args // { preFixup = collisions.dropFilesOfDependencies entry + args.preFixup; });

  # The site-packages of the lock's wheels whose shared libraries a native wheel links (the
  # lock's `needed_from`; when the lock does not say, every Linux native wheel among its
  # dependencies, transitively, along edges that are not cut).
  librarySearchPaths = self: entry:
    let
      closure = builtins.genericClosure {
        startSet = map (key: { inherit key; }) (depsOf entry.name);
        operator = item: map (key: { inherit key; }) (depsOf item.key);
      };
      reachable = builtins.filter (name: name != entry.name) (map (item: item.key) closure);
      nativeWheel = name: packages.${name}.provider == "wheel" && patchesElf packages.${name};
      names =
        if entry.artifact ? needed
        then builtins.filter (name: builtins.elem name reachable) (entry.artifact.needed_from or [ ])
        else builtins.filter nativeWheel reachable;
    in
    map (name: "${self.${name}}/${self.python.sitePackages}") names;

  # A build tool of a recipe (from the final set), as the base set's unless the environment
  # has it.
  buildTool = d:
    let n = util.pythonName d; in
    if util.isPythonPackage d && !(packages ? ${n}) && basePackages ? ${n} && util.pythonName basePackages.${n} == n
    then basePackages.${n} else d;

  sdistArgs = self: super: entry: old:
    let
      otherVersion = (old.version or null) != entry.version;
      flag = "--skip-dependency-check";
      locked = entry ? build_system;
      closure = buildSystems.closureOf (buildDrvs self) entry;
      # The set's build tools, for a build system the lock could not lock (`build_system_unlocked`,
      # a pylock.toml): taken from the base set, not `super`, so that they are not rebuilt against
      # the lock's versions of their dependencies. A build tool the lock has (numpy, for its C
      # API) is the lock's package, also when the set has no recipe for it.
      unlockedBuildSystem = map buildTool (old.build-system or [ ]) ++ map
          (req:
            let n = util.requirementName req; in
            # A build tool the lock has (numpy, for its C API) is the lock's package, also when
            # the set has no recipe for it (the lock's own packages are all in `self`).
            if packages ? ${n} && n != entry.name then self.${n}
            else if basePackages ? ${n} then basePackages.${n}
            else if super ? ${n} then super.${n}
            else throw ("mach-nix: ${entry.name} ${entry.version} (sdist) needs the build tool '${n}', "
              + "which this Python package set does not have. Add it with `overridesPre`, or choose the wheel: "
              + "providers.${entry.name} = \"wheel\";"))
          (entry.build_requires or [ ]);
    in
    {
      src = fetchArtifact entry.artifact;
      pyproject = true;
      format = null;
      # A locked build system (lock format 2): exactly the closure the lock resolved for this
      # sdist, built from its wheels (build-systems.nix), in place of the recipe's.
      build-system = if locked then closure else unlockedBuildSystem;
      # pypa/build would refuse the set's build tools when the sdist pins other versions.
      pypaBuildFlags =
        if builtins.isList (old.pypaBuildFlags or [ ]) then (old.pypaBuildFlags or [ ]) ++ [ flag ]
        else "${old.pypaBuildFlags} ${flag}";
    } // util.optionalAttrs locked {
      # The set's build hooks propagate the set's own tools (wheel, packaging) onto PYTHONPATH
      # before the build-system: the locked closure goes first, so the backend imports its own.
      preBuild = buildSystems.pythonPathFirst self.python.sitePackages closure + (old.preBuild or "");
    } // util.optionalAttrs otherVersion {
      # The recipe's patches were written for its own version.
      patches = [ ];
    } // present old {
      # A recipe fetched from a repository may build from a subdirectory of it; a PyPI sdist
      # is unpacked to its own root.
      sourceRoot = null;
    } // util.optionalAttrs (otherVersion && old ? cargoDeps) {
      cargoDeps = throw ("mach-nix: ${entry.name} ${entry.version} (sdist): nixpkgs' recipe builds a Rust extension "
        + "from crates vendored for its own version ${old.version} (cargoDeps), which do not fit this sdist. "
        + "Choose the wheel: providers.${entry.name} = \"wheel\"; or nixpkgs' version: "
        + "providers.${entry.name} = \"nixpkgs\";");
    };

  # nixpkgs' Python recipe for a lock entry in `super`, or null: an attribute that is a
  # buildPythonPackage (it has overridePythonAttrs; `toPythonModule` around a CMake build
  # has not) of this very project (an alias may point to another one).
  recipeFor = super: name:
    let
      attr = attrOf name;
      isRecipe = builtins.tryEval (let v = super.${attr}; in
        util.isDerivation v && v ? overridePythonAttrs && util.pythonName v == name);
    in
    if super ? ${attr} && isRecipe.success && isRecipe.value then super.${attr} else null;

  inSet = super: name: super ? ${name} && (builtins.tryEval (util.isDerivation super.${name})).value;

  # overridePythonAttrs, keeping callPackage's `.override` (nixpkgs' result has none).
  overridePython = drv: f:
    let result = drv.overridePythonAttrs f; in
    if drv ? override then result // { override = args: overridePython (drv.override args) f; } else result;

  mkPackage = self: super: name:
    let
      entry = packages.${name};
      deps = map (runtimeOf self super) (depsOf name);
      # A non-Python recipe (toPythonModule around another build system) only has
      # overrideAttrs: its attributes are the builder's, so Python ones are translated.
      overrideAny = drv: f:
        if drv ? overridePythonAttrs then overridePython drv f
        else self.toPythonModule (drv.overrideAttrs (old:
          let a = f old; in
          builtins.removeAttrs a [ "dependencies" "doCheck" "nativeCheckInputs" "checkInputs" ]
          // util.optionalAttrs (a ? dependencies) {
            propagatedBuildInputs = (a.propagatedBuildInputs or old.propagatedBuildInputs or [ ]) ++ a.dependencies;
          }
          // util.optionalAttrs (a ? doCheck) { doInstallCheck = a.doCheck; }
          // util.optionalAttrs (a ? nativeCheckInputs) { nativeInstallCheckInputs = a.nativeCheckInputs; }
          // util.optionalAttrs (a ? checkInputs) { installCheckInputs = a.checkInputs; }));
      fresh = extra: self.buildPythonPackage ({ pname = name; } // commonArgs entry deps { } // extra);
      recipe = recipeFor super name;
    in
    if entry.provider == "nixpkgs" then
      let
        drv = super.${entry.nixpkgs_attr}
          or (throw ("mach-nix: the lock wants python.pkgs.${entry.nixpkgs_attr} (for ${name}), which this nixpkgs "
            + "does not have; re-run the resolution against it"));
        checks = { doCheck = tests; dontCheckRuntimeDeps = true; }
          // util.optionalAttrs (!tests) { nativeCheckInputs = [ ]; checkInputs = [ ]; };
        # A cut edge of a package whose own dependencies are kept.
        dropCut = builtins.filter (d: !(util.isPythonPackage d && backEdges ? "${name}>${util.pythonName d}"));
        versionOk = (drv.version or null) == entry.version
          || throw ("mach-nix: the lock takes ${name} ${entry.version} from nixpkgs "
            + "(python.pkgs.${entry.nixpkgs_attr}), but this nixpkgs has "
            + "${name} ${drv.version or "without a version"}: the lock was made against another nixpkgs. "
            + "Re-lock against this one: resolve at evaluation time (mkPython without `lock`), or write its "
            + "inventory with `nix eval --json --impure --expr '(import <mach-nix> { pkgs = <this nixpkgs>; })"
            + ".nixpkgsInventory { }' > inventory.json` and run "
            + "`mach-nix lock --nixpkgs-inventory inventory.json …`; "
            + "or take it from PyPI: providers.${name} = \"wheel\";");
      in
      assert versionOk;
      if kept name then drv
      else overrideAny drv (old: checks // (
        if depsKnown name then {
          dependencies = deps;
          propagatedBuildInputs = nonPython (old.propagatedBuildInputs or [ ]);
        }
        else {
          dependencies = map (swapTool self super) (dropCut (old.dependencies or [ ]));
          propagatedBuildInputs = map (swapTool self super) (dropCut (old.propagatedBuildInputs or [ ]));
        }))
    else if entry.provider == "wheel" then
      let
        needs = wheels.glibcNeeded entry.artifact.filename;
        glibcOk = surface.glibc == null || needs == null || builtins.compareVersions needs surface.glibc <= 0
          || throw ("mach-nix: the lock's ${name} ${entry.version} wheel (${entry.artifact.filename}) needs glibc "
            + "${needs}, but this nixpkgs has glibc ${surface.glibc}: it cannot load it. Re-lock for this nixpkgs: "
            + "`mach-nix lock --glibc ${surface.glibc} …` (mkPython without `lock` does so itself).");
      in
      assert glibcOk;
      if recipe != null
      then overridePython recipe (old: commonArgs entry deps old // wheelArgs self entry old
        // verdictsCleared { forWheel = true; } old)
      else fresh (wheelArgs self entry { })
    else if local.isSource entry then
      let
        # Built as a wheel or an sdist is, from its own source: never nixpkgs' recipe.
        asArtifact = entry // { artifact = { filename = local.filename entry; }; };
        args = if local.isWheel entry then wheelArgs self asArtifact { } else sdistArgs self super asArtifact { };
      in
      fresh (args // { src = local.src lockRoot entry; })
    else if entry.provider == "sdist" then
      if recipe != null
      then overridePython recipe (old: commonArgs entry deps old // sdistArgs self super entry old
        // verdictsCleared { forWheel = false; } old)
      else fresh (sdistArgs self super entry { })
    else throw "mach-nix: unknown provider '${entry.provider}' for ${name} in the lock";

  keepsSetVersion = name: buildTools ? ${name};
in
{
  /* The extension: self: super: { <name> = <package>; … } for every package of the lock,
     also under its nixpkgs attribute when that is another name (pygobject3 for pygobject):
     nixpkgs' recipes reach it by that name.

     Type: overrides :: Extension */
  overrides = self: super: builtins.listToAttrs (builtins.concatMap
    (name:
      let
        value =
          # A hook tool stays the set's inside the scope (see `runtimeOf` for the environment's).
          if keepsSetVersion name && inSet super name then super.${name}
          else mkPackage self super name;
      in
      [ { inherit name value; } ] ++ util.optionals (attrOf name != name) [ { name = attrOf name; inherit value; } ])
    names);

  /* Select every package of the lock from a (final) package set: the environment's content.

     Type: select :: AttrSet -> [Derivation] */
  select = ps: map (runtimeOf ps ps) names;

  /* Select the root packages only.

     Type: selectRoots :: AttrSet -> [Derivation] */
  selectRoots = ps: map (runtimeOf ps ps) (lock.roots or [ ]);

  /* What the extension decides, as data (for tests and inspection): the nixpkgs packages
     kept as nixpkgs' derivations, and the dependency edges cut to break cycles.

     Type: plan :: { kept :: [String], cut :: [String] } */
  plan = {
    kept = builtins.filter kept names;
    cut = builtins.attrNames backEdges;
  };
}
