# The Python package set of one interpreter (nixpkgs: passthrufun.nix + python-packages-base.nix).
# Layers, in nixpkgs' order: base helpers, hooks, packages, pythonPackagesExtensions,
# then packageOverrides last; aliases (when config.allowAliases) come before the packages.
{ lib, stdenv, buildSupport, config, pkgs, python, packageOverrides, pythonPackagesExtensions }:
let
  # As nixpkgs: a module of *this* interpreter (derivations compare by outPath); a Python
  # application has `pythonModule = false`.
  hasPythonModule = drv: builtins.isAttrs drv && drv ? pythonModule && drv.pythonModule == python;

  # As nixpkgs: the interpreter, then the modules and their (already transitive) closures.
  requiredPythonModules = drvs:
    let
      modules = builtins.filter hasPythonModule drvs;
      keyed = builtins.genericClosure {
        startSet = map (d: { key = d.outPath; drv = d; }) ([ python ] ++ modules);
        operator = item: map (d: { key = d.outPath; drv = d; })
          (builtins.filter hasPythonModule (item.drv.requiredPythonModules or [ ]));
      };
    in map (item: item.drv) keyed;

  toPythonModule = drv: drv // {
    pythonModule = python;
    pythonPath = [ ];
    requiredPythonModules = requiredPythonModules (drv.propagatedBuildInputs or [ ]);
  };
  toPythonApplication = drv: drv // { pythonModule = false; };

  # The set's own `python` is the interpreter as a Python module (nixpkgs:
  # `python = toPythonModule python`): this is what every package built by the set's
  # buildPythonPackage appends to its propagatedBuildInputs.
  pythonModule = toPythonModule python;

  # As newest nixpkgs: on the first call, `disabled = true` becomes
  # `meta.problems.unsupportedPython` (check-meta then refuses the package) and the argument
  # is dropped, so `overridePythonAttrs` can lift it by removing that problem.
  handleDisabledArg = args:
    if args.disabled == (args ? meta.problems.unsupportedPython) then builtins.removeAttrs args [ "disabled" ]
    else if args.disabled then
      builtins.removeAttrs args [ "disabled" ] // {
        meta = (args.meta or { }) // {
          problems = ((args.meta or { }).problems or { }) // { unsupportedPython = { }; };
        };
      }
    else throw ("${args.name or args.pname or "buildPythonPackage"}: { disabled = false; } conflicts with the "
      + "presence of meta.problems.unsupportedPython");

  # nixpkgs' makeOverridablePythonPackage (newest): overridePythonAttrs re-calls with merged
  # arguments (for `finalAttrs:` recipes, as one more extension); overrideAttrs is re-applied
  # after it (and keeps overridePythonAttrs available).
  makeOverridablePythonPackage = isInitialCall: f: origArgs':
    let
      origArgs =
        if builtins.isFunction origArgs' then
          (finalAttrs: let previous = origArgs' finalAttrs; in
            if previous ? disabled then handleDisabledArg previous else previous)
        else if isInitialCall && origArgs' ? disabled then handleDisabledArg origArgs'
        else origArgs';
      result = f origArgs;
      overrideWith =
        if builtins.isFunction origArgs then newArgs: lib.extends (lib.toExtension newArgs) origArgs
        else newArgs:
          if !(builtins.isFunction newArgs) then origArgs // newArgs
          else if !(builtins.isFunction (newArgs origArgs)) then origArgs // newArgs origArgs
          else finalAttrs: origArgs // newArgs finalAttrs origArgs;
    in
    result // {
      overridePythonAttrs = newArgs: makeOverridablePythonPackage false f (overrideWith newArgs);
      overrideAttrs = fdrv:
        makeOverridablePythonPackage isInitialCall (args: toPythonModule ((f args).overrideAttrs fdrv)) origArgs;
    };

  base = self: {
    inherit lib pkgs hasPythonModule requiredPythonModules toPythonModule toPythonApplication;
    python = pythonModule;
    pythonPackages = self;
    callPackage = lib.callPackageWith (pkgs // self);
    makePythonPath = drvs: lib.makeSearchPath python.sitePackages (requiredPythonModules drvs);
    buildPythonPackage = makeOverridablePythonPackage true (import ./mk-python-derivation.nix {
      inherit lib stdenv toPythonModule requiredPythonModules;
      python = pythonModule;
      hooks = self;
      namePrefix = "${python.libPrefix}-";
    });
    buildPythonApplication = makeOverridablePythonPackage true (attrs: toPythonApplication (import
      ./mk-python-derivation.nix {
      inherit lib stdenv toPythonModule requiredPythonModules;
      python = pythonModule;
      hooks = self;
      namePrefix = "";
    } attrs));
    # Bootstrap packages (installer, build, wheel, …) cannot use hooks made from themselves.
    bootstrap = import ./bootstrap.nix {
      inherit lib stdenv buildSupport toPythonModule requiredPythonModules;
      python = pythonModule;
    };
    fetchPypi = lib.makeOverridable (
      { pname, version, hash ? null, sha256 ? null, format ? "setuptools"
      , extension ? (if format == "wheel" then "whl" else "tar.gz")
      , python ? "py3", abi ? "none", platform ? "any", dist ? python
      }:
      let
        fname = builtins.replaceStrings [ "-" ] [ "_" ] pname;
        file = if format == "wheel" then "${fname}-${version}-${python}-${abi}-${platform}.whl"
          else "${pname}-${version}.${extension}";
        kind = if format == "wheel" then dist else "source";
      in buildSupport.fetchurl {
        url = "https://files.pythonhosted.org/packages/${kind}/${builtins.substring 0 1 pname}/${pname}/${file}";
        inherit hash sha256;
      });
  };

  hooks = self: super: import ./hooks { inherit (buildSupport) makeSetupHook; inherit python; pkgs = self; };
  packages = self: super: import ./python-packages.nix {
    inherit lib buildSupport stdenv pkgs;
    python = pythonModule;
  } self super;
  aliases = self: super: lib.optionalAttrs (config.allowAliases or true) (import ./python-aliases.nix self super);

  extensions = lib.composeManyExtensions ([ hooks packages ] ++ pythonPackagesExtensions ++ [ packageOverrides ]);

  # ensurePythonModules: a derivation in the set that is neither a Python module nor a setup
  # hook throws when its outPath/drvPath is forced.
  ensurePythonModules = items: builtins.mapAttrs (name: value:
    if lib.isDerivation value && !(hasPythonModule value) && !((value.provides or { }).setupHook or false)
       && name != "python"
    then lib.extendDerivation
      (throw ("${value.name or name} should use `buildPythonPackage` or `toPythonModule` if it is to be part of "
        + "the Python packages set."))
      { } value
    else value) items;

  set = lib.fix (lib.extends (lib.composeExtensions aliases extensions) base);
in
ensurePythonModules set
