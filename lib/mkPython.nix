# mkPython and its views. All public builders take the same arguments (the formal
# arguments of `machNixWith`, defaults included) and return views of one result: the
# environment, whose passthru holds lock, pythonOverrides, python, overlay, nixpkgs and
# dockerImage.
{ util, surface, defaultPypiData, defaultPython }:
let
  parseProviders = import ./providers.nix { inherit util; };
  inventoryOf = import ./inventory.nix { inherit util; };
  resolve = import ./resolve.nix { inherit util surface; };
  compose = import ./compose.nix { inherit util surface; };
  checkLock = (import ./lock.nix { inherit surface; }).check;
  pylock = import ./pylock.nix { inherit util surface; };
  targets = import ./targets.nix { inherit surface; };
  editable = import ./editable.nix { inherit util; };
  underscoreOverrides = import ./underscore.nix { inherit util; };
  curated = import ../overrides { inherit util surface; };

  /* The interpreter with `extension` composed after the packageOverrides it already has (a
     second `override { packageOverrides = …; }` would replace those of the user's overlays);
     `extra` may set `self`, the interpreter its passthru refers to.

     Type: withOverrides :: Derivation -> Extension -> AttrSet -> Derivation */
  withOverrides = interpreter: extension: extra: interpreter.override (old: {
    packageOverrides = util.composeExtensions (old.packageOverrides or (_: _: { })) extension;
  } // extra);

  /* The one result every view is taken from; the arguments are those of mkPython (README).

     Type: machNixWith :: Args -> { env, envWithout :: [String] -> Derivation, lock, pythonOverrides, python,
       overlay, nixpkgs, dockerImage, selectPkgs } */
  machNixWith =
    { requirements ? ""                               # requirements.txt text
    , pyproject ? null                                # a pyproject.toml path
    , extras ? [ ]                                    # its optional-dependency groups
    , groups ? [ ]                                    # its PEP 735 dependency groups
    , providers ? { _default = "wheel,sdist,nixpkgs"; }
    , packagesExtra ? [ ]                             # modules join the env, programs' bin/ is linked;
                                                      # paths and tarball URLs are Python sources
    , sources ? [ ]                                   # local projects (paths, archives), resolved too
    , _ ? { }                                         # small overrides (underscore.nix)
    , overridesPre ? [ ]                              # pythonOverrides before the generated ones
    , overridesPost ? [ ]                             # pythonOverrides after everything
    , tests ? false                                   # run the tests of packages built from source
    , python ? defaultPython                          # interpreter attribute name
    , ignoreCollisions ? false
    , postBuild ? ""
    , lock ? null                                     # a lock (one target or several) or pylock.toml: no resolution
    , pypiData ? defaultPypiData                      # database layers
    }:
    let
      basePython = if builtins.isString python then surface.interpreter python
        else throw "mach-nix: `python` must be the name of an interpreter attribute, e.g. python = \"python311\";";
      pre = util.toList overridesPre;
      orders = parseProviders providers;

      # The set the resolver sees: nixpkgs plus overridesPre (which may add packages).
      prePython = withOverrides basePython (util.composeManyExtensions pre) { };

      # Resolution at evaluation time. Probing a nixpkgs attribute instantiates its recipe,
      # so only attributes named like a project the resolution can reach are probed, never
      # the whole set (~9,000 attributes). When `nixpkgs` leads `_default`, those names come
      # from the database first; otherwise the first resolution sees only the packages
      # whose own order names nixpkgs, and only if it fails is it run again with the names
      # the failed resolution could reach (when nixpkgs has any of them, and has every
      # requested name the database lacks).
      defaultOrder = orders._default or [ "wheel" "sdist" "nixpkgs" ];
      nixpkgsNamed = builtins.filter (n: n != "_default" && builtins.elem "nixpkgs" orders.${n})
        (builtins.attrNames orders);
      nixpkgsPreferred = defaultOrder != [ ] && builtins.head defaultOrder == "nixpkgs";
      # packagesExtra's paths and tarball URLs, and `sources`: local sources of the resolution
      # (`file://` lines; their metadata read by the resolver, setup.py through its PEP 517 hook
      # with the interpreter's setuptools as build environment).
      isSourceRef = p: builtins.isPath p || builtins.isString p;
      sourceOf = p:
        if builtins.isString p && builtins.match "(https?|file)://.*" p != null then builtins.fetchTarball p
        else if builtins.isString p && builtins.match "/.*" p != null then /. + p
        else if builtins.isString p then throw "mach-nix: ${p} in packagesExtra is neither a path nor a tarball URL"
        else p;
      # The build environment of their hooks: the set's setuptools and wheel, copied into one
      # directory (the hook's sandbox sees it, not the store).
      hookEnv = surface.runCommand "mach-nix-hook-env" { } (builtins.concatStringsSep "\n" ([ "mkdir -p $out" ]
        ++ map (p: "cp -rL --no-preserve=mode ${p}/${basePython.sitePackages}/. $out/")
          (builtins.filter (p: p != null) [ (prePython.pkgs.setuptools or null) (prePython.pkgs.wheel or null) ])));
      allSources = map sourceOf (util.toList sources ++ builtins.filter isSourceRef (util.toList packagesExtra));
      sourceLines = builtins.concatStringsSep "" (map (source: "file://${source}\n") allSources);
      resolution = resolve {
        requirements = requirements + (if allSources == [ ] then "" else "\n" + sourceLines);
        inherit pyproject extras groups;
        providers = orders;
        pypiData = util.toList pypiData;
        python = basePython;
        inherit (surface) resolverPython;
        hookEnv = if allSources == [ ] then null else hookEnv;
      };
      byName = inventoryOf.index prePython.pkgs;
      inventoryFor = names: inventoryOf.forNames prePython.pkgs byName (names ++ nixpkgsNamed);
      resolved =
        if nixpkgsPreferred then resolution.withInventory (inventoryFor resolution.reachableNames)
        else
          let
            firstInventory = inventoryFor [ ];
            first = resolution.withInventory firstInventory;
            retryInventory = inventoryFor (first.names or [ ]);
            # A requested name neither the database nor nixpkgs has (a typo): no retry helps.
            hopeless = builtins.any (name: !(byName ? ${name})) (first.unknown_roots or [ ]);
          in
          if first ? error && builtins.elem "nixpkgs" defaultOrder && !hopeless && retryInventory != firstInventory
          then resolution.withInventory retryInventory
          else first;

      theLock =
        if lock != null && pylock.isPylock lock then
          checkLock { lock = pylock.toLock { inherit lock basePython; }; inherit basePython; pythonAttr = python; }
        else if lock != null && targets.isTargets lock then
          checkLock { lock = targets.pick { inherit lock basePython; }; inherit basePython; pythonAttr = python; }
        else if lock != null then checkLock { inherit lock basePython; pythonAttr = python; }
        else if resolved ? error then throw "mach-nix could not resolve the requirements:\n${resolved.error}"
        else resolved;

      # Local sources of a lock are relative to its directory (the store, for the resolver's own).
      lockRoot = if lock == null then builtins.storeDir else if builtins.isAttrs lock then null else dirOf lock;
      generated = compose { lock = theLock; inherit tests lockRoot; basePackages = prePython.pkgs; };
      pythonOverrides = util.composeManyExtensions (pre ++ [
        generated.overrides
        (curated theLock)
        (underscoreOverrides _)
      ] ++ util.toList overridesPost);

      finalPython = withOverrides basePython pythonOverrides { self = finalPython; };
      # packagesExtra: Python modules (derivations with `pythonModule`, e.g. built with
      # python.pkgs.buildPythonPackage) join the environment; any other derivation has its
      # bin/ linked into the environment's bin/ (and is in the docker image).
      extraPackages = builtins.filter (p: !(isSourceRef p)) (util.toList packagesExtra);
      extraModules = builtins.filter util.isPythonPackage extraPackages;
      extraPrograms = builtins.filter (p: !(util.isPythonPackage p)) extraPackages;
      linkPrograms = builtins.concatStringsSep "\n" (map (p: ''
        if [ -d ${p}/bin ]; then
          for f in ${p}/bin/*; do [ -e "$out/bin/$(basename "$f")" ] || ln -s "$f" "$out/bin/"; done
        fi'') extraPrograms);
      # The environment without some of the lock's packages (a shell's editable projects).
      envWithout = names: finalPython.buildEnv.override {
        extraLibs = builtins.filter (p: !(builtins.elem (util.pythonName p) names)) (generated.select finalPython.pkgs)
          ++ extraModules;
        inherit ignoreCollisions;
        postBuild = linkPrograms + "\n" + postBuild;
      };
      env = envWithout [ ];
      overlay = final: prev: {
        ${python} = withOverrides prev.${python} pythonOverrides { self = final.${python}; };
      };
      dockerImage = surface.buildLayeredImage {
        name = "mach-nix-python";
        tag = "latest";
        contents = [ env ] ++ extraPrograms;
        config.Cmd = [ "${env}/bin/${finalPython.executable or "python3"}" ];
      };
    in
    {
      inherit env envWithout pythonOverrides overlay dockerImage;
      lock = theLock;
      python = finalPython;
      nixpkgs = surface.appendOverlays [ overlay ];
      selectPkgs = generated.select;
    };

  knownArgs = builtins.attrNames (builtins.functionArgs machNixWith);

  /* machNixWith, for an argument set or a list (`mkPython [ … ]` means packagesExtra), with
     unknown arguments explained.

     Type: machNix :: (Args | [Derivation]) -> Result */
  machNix = argsOrList:
    let
      args = if builtins.isList argsOrList then { packagesExtra = argsOrList; } else argsOrList;
      unknown = builtins.filter (a: !(builtins.elem a knownArgs)) (builtins.attrNames args);
    in
    if args ? editable || args ? venvDir then
      throw ("mach-nix: `editable` and `venvDir` are arguments of mkPythonShell (a development shell "
        + "that imports the projects from their source trees)")
    else if unknown != [ ] then
      throw ("mach-nix: unknown argument `${builtins.head unknown}`; the arguments are: "
        + builtins.concatStringsSep ", " knownArgs)
    else machNixWith args;

  /* The environment, with the other views in passthru (and as attributes).

     Type: mkPython :: (Args | [Derivation]) -> Derivation */
  mkPython = args:
    let
      r = machNix args;
      views = { inherit (r) lock pythonOverrides python overlay nixpkgs dockerImage selectPkgs; };
    in
    r.env // views // { passthru = (r.env.passthru or { }) // views; };
  fromSource = import ./build-python-package.nix { inherit util machNixWith knownArgs; };
in
{
  inherit mkPython;
  inherit (fromSource) buildPythonPackage buildPythonApplication;

  /* A shell (nix-shell / mkShell) with the environment on PATH. With `editable = [ ./. ]`
     (paths, or { path; extras ? [ ]; root ? "src"; }), the projects are imported from their
     source trees and their dependencies join the resolution (or must be in `lock`); with
     `editable` or `venvDir`, `pip install` and `uv pip install` work, into a virtual
     environment over the Nix environment (`venvDir`, default <first project>/.mach-nix-venv):
     lib/editable.nix. A lock's editable local sources (`-e ./lib` in the requirements file it
     was written from; `lock` given as a path) are editable projects too, left out of the
     Nix environment (an edit of them needs no rebuild).

     Type: mkPythonShell :: (Args // { editable ? [Path], venvDir ? Path | String } | [Derivation]) -> Derivation */
  mkPythonShell = args:
    let
      a = if builtins.isList args then { packagesExtra = args; } else args;
      projects = editable.projects (a.editable or [ ]);
      venvDir = a.venvDir or null;
      deps = editable.requirements projects;
      locked = (a.lock or null) != null;
      r = machNix (builtins.removeAttrs a [ "editable" "venvDir" ] // util.optionalAttrs (deps != [ ] && !locked) {
        requirements = (a.requirements or "") + "
" + builtins.concatStringsSep "
" deps + "
";
      });
      lockRoot = if locked && !(builtins.isAttrs a.lock) then dirOf a.lock else null;
      fromLock = editable.fromLock { inherit (r) lock; inherit lockRoot; };
      everyProject = projects ++ fromLock;
      withoutEditable = if fromLock == [ ] then r.env else r.envWithout (map (p: p.name) fromLock);
      env = if locked then builtins.seq (editable.checkLock r.lock projects) withoutEditable else withoutEditable;
    in
    surface.mkShell ({ packages = [ env ]; } // util.optionalAttrs (everyProject != [ ] || venvDir != null)
      (editable.shellAttrs { inherit (r) python; inherit env venvDir; projects = everyProject; }));

  /* A layered docker image with the environment and Cmd = [ python ].

     Type: mkDockerImage :: (Args | [Derivation]) -> Derivation */
  mkDockerImage = args: (machNix args).dockerImage;

  /* An overlay setting the interpreter attribute to the overridden interpreter.

     Type: mkOverlay :: (Args | [Derivation]) -> Overlay */
  mkOverlay = args: (machNix args).overlay;

  /* This nixpkgs with that overlay applied.

     Type: mkNixpkgs :: (Args | [Derivation]) -> AttrSet */
  mkNixpkgs = args: (machNix args).nixpkgs;

  /* The pythonOverrides extension alone (self: super: { … }).

     Type: mkPythonOverrides :: (Args | [Derivation]) -> Extension */
  mkPythonOverrides = args: (machNix args).pythonOverrides;

  /* The nixpkgs inventory of an interpreter's package set, for
     `mach-nix lock --nixpkgs-inventory FILE` (every attribute is probed: the enumeration
     mkPython never does).

     Type: nixpkgsInventory :: { python ? String, overridesPre ? [Extension] } -> [{ attr, pname, version }] */
  nixpkgsInventory = { python ? defaultPython, overridesPre ? [ ] }:
    let extension = util.composeManyExtensions (util.toList overridesPre); in
    inventoryOf.all (withOverrides (surface.interpreter python) extension { }).pkgs;
}
