# mkPython and its views. All public builders take the same arguments and return views of
# one result: the environment, whose passthru holds lock, pythonOverrides, python, overlay,
# nixpkgs and dockerImage.
{ util, surface, pkgs, pypiData, defaultPython }:
let
  parseProviders = import ./providers.nix { inherit util; };
  inventoryOf = import ./inventory.nix { inherit util; };
  resolve = import ./resolve.nix { inherit util surface; };
  compose = import ./compose.nix { inherit util surface; };
  underscoreOverrides = import ./underscore.nix { inherit util; };
  curated = import ../overrides { inherit util surface; };

  defaultProviders = { _default = "wheel,sdist,nixpkgs"; };

  knownArgs = [ "requirements" "pyproject" "extras" "providers" "packagesExtra" "_" "overridesPre"
    "overridesPost" "tests" "python" "ignoreCollisions" "postBuild" "lock" "pypiData" ];

  /* The interpreter with `extension` composed after the packageOverrides it already has (a
     second `override { packageOverrides = …; }` would replace those of the user's overlays);
     `extra` may set `self`, the interpreter its passthru refers to. */
  withOverrides = interpreter: extension: extra: interpreter.override (old: {
    packageOverrides = util.composeExtensions (old.packageOverrides or (_: _: { })) extension;
  } // extra);

  /* The one result every view is taken from. */
  machNix = argsOrList:
    let
      args = if builtins.isList argsOrList then { packagesExtra = argsOrList; } else argsOrList;
      unknown = builtins.filter (a: !(builtins.elem a knownArgs)) (builtins.attrNames args);
      checked = if unknown != [ ] then throw "mach-nix: unknown argument `${builtins.head unknown}`; the arguments are: ${builtins.concatStringsSep ", " knownArgs}" else args;

      pythonAttr = checked.python or defaultPython;
      basePython = if builtins.isString pythonAttr then surface.interpreter pythonAttr
        else throw "mach-nix: `python` must be the name of an interpreter attribute, e.g. python = \"python311\";";
      overridesPre = util.toList (checked.overridesPre or [ ]);
      overridesPost = util.toList (checked.overridesPost or [ ]);
      tests = checked.tests or false;
      providers = parseProviders (checked.providers or defaultProviders);
      dbs = util.toList (checked.pypiData or pypiData);

      # The set the resolver sees: nixpkgs plus overridesPre (which may add packages).
      prePython = withOverrides basePython (util.composeManyExtensions overridesPre) { };

      # Resolution at evaluation time. Enumerating a real nixpkgs' whole Python set costs
      # seconds, so when `nixpkgs` is only a fallback of `_default` the first resolution sees
      # just the packages whose own order names nixpkgs; only if it fails is it run again
      # with the whole inventory.
      defaultOrder = providers._default or [ "wheel" "sdist" "nixpkgs" ];
      nixpkgsNamed = builtins.filter (n: n != "_default" && builtins.elem "nixpkgs" providers.${n}) (builtins.attrNames providers);
      nixpkgsPreferred = defaultOrder != [ ] && builtins.head defaultOrder == "nixpkgs";
      resolveWith = inventory: resolve {
        requirements = checked.requirements or "";
        pyproject = checked.pyproject or null;
        extras = checked.extras or [ ];
        inherit providers inventory;
        pypiData = dbs;
        python = basePython;
        inherit (surface) resolverPython;
      };
      fullInventory = inventoryOf.all prePython.pkgs;
      resolved =
        if nixpkgsPreferred then resolveWith fullInventory
        else
          let first = resolveWith (inventoryOf.only prePython.pkgs nixpkgsNamed); in
          if first ? error && builtins.elem "nixpkgs" defaultOrder then resolveWith fullInventory else first;

      lock =
        if checked ? lock then
          (let
            l = if builtins.isAttrs checked.lock then checked.lock else builtins.fromJSON (builtins.readFile checked.lock);
            lockPython = l.target.python or "";
            lockMinor = builtins.concatStringsSep "." (builtins.genList (builtins.elemAt (builtins.splitVersion lockPython)) 2);
            lockSystem = l.target.system or surface.system;
            redo = "re-run `mach-nix lock --python ${basePython.version} --system ${surface.system}`";
           in
           if (l.version or null) != 1 then throw "mach-nix: ${toString checked.lock} is not a mach-nix lock of format version 1; regenerate it with `mach-nix lock`"
           else if lockMinor != basePython.pythonVersion then throw "mach-nix: the lock was made for Python ${lockPython}, but `${pythonAttr}` is Python ${basePython.version}; ${redo}"
           else if lockSystem != surface.system then throw "mach-nix: the lock was made for ${lockSystem}, but this build is for ${surface.system}; ${redo}"
           else l)
        else if resolved ? error then throw "mach-nix could not resolve the requirements:\n${resolved.error}"
        else resolved;

      generated = compose { inherit lock tests; basePackages = prePython.pkgs; };
      pythonOverrides = util.composeManyExtensions (overridesPre ++ [
        generated.overrides
        (curated lock)
        (underscoreOverrides (checked._ or { }))
      ] ++ overridesPost);

      python = withOverrides basePython pythonOverrides { self = python; };
      # packagesExtra: Python modules (derivations with `pythonModule`, e.g. built with
      # python.pkgs.buildPythonPackage) join the environment; any other derivation has its
      # bin/ linked into the environment's bin/ (and is in the docker image).
      extras = util.toList (checked.packagesExtra or [ ]);
      extraModules = builtins.filter (p: p ? pythonModule) extras;
      extraPrograms = builtins.filter (p: !(p ? pythonModule)) extras;
      linkPrograms = builtins.concatStringsSep "\n" (map (p: ''
        if [ -d ${p}/bin ]; then
          for f in ${p}/bin/*; do [ -e "$out/bin/$(basename "$f")" ] || ln -s "$f" "$out/bin/"; done
        fi'') extraPrograms);
      env = (python.buildEnv.override {
        extraLibs = generated.select python.pkgs ++ extraModules;
        ignoreCollisions = checked.ignoreCollisions or false;
        postBuild = linkPrograms + "\n" + (checked.postBuild or "");
      });
      overlay = final: prev: {
        ${pythonAttr} = withOverrides prev.${pythonAttr} pythonOverrides { self = final.${pythonAttr}; };
      };
      dockerImage = surface.buildLayeredImage {
        name = "mach-nix-python";
        tag = "latest";
        contents = [ env ] ++ extraPrograms;
        config.Cmd = [ "${env}/bin/${python.executable or "python3"}" ];
      };
      nixpkgs = surface.appendOverlays [ overlay ];
    in
    { inherit env lock pythonOverrides python overlay nixpkgs dockerImage; selectPkgs = generated.select; };

  /* The environment, with the other views in passthru (and as attributes). */
  mkPython = args:
    let
      r = machNix args;
      views = { inherit (r) lock pythonOverrides python overlay nixpkgs dockerImage selectPkgs; };
    in
    r.env // views // { passthru = (r.env.passthru or { }) // views; };
in
{
  inherit mkPython;
  /* The nixpkgs inventory of an interpreter's package set (every attribute probed: the
     expensive enumeration, for `mach-nix lock --nixpkgs-inventory`). */
  nixpkgsInventory = { python ? defaultPython, overridesPre ? [ ] }:
    inventoryOf.all (withOverrides (surface.interpreter python) (util.composeManyExtensions (util.toList overridesPre)) { }).pkgs;
  /* A shell (nix-shell / mkShell) with the environment on PATH. */
  mkPythonShell = args: surface.mkShell { packages = [ (machNix args).env ]; };
  /* A layered docker image with the environment and Cmd = [ python ]. */
  mkDockerImage = args: (machNix args).dockerImage;
  /* An overlay setting the interpreter attribute to the overridden interpreter. */
  mkOverlay = args: (machNix args).overlay;
  /* This nixpkgs with that overlay applied. */
  mkNixpkgs = args: (machNix args).nixpkgs;
  /* The pythonOverrides extension alone (self: super: { … }). */
  mkPythonOverrides = args: (machNix args).pythonOverrides;
}
