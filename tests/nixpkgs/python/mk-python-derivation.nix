# buildPythonPackage / buildPythonApplication of the double
# (nixpkgs: pkgs/development/interpreters/python/mk-python-derivation.nix).
{ lib, stdenv, python, hooks, namePrefix, toPythonModule, requiredPythonModules, isBootstrap ? false }:

attrsOrFn:
let
  attrs = if builtins.isFunction attrsOrFn then lib.fix attrsOrFn else attrsOrFn;

  pname = attrs.pname or (builtins.parseDrvName attrs.name).name;
  name = namePrefix + (attrs.name or "${attrs.pname}-${attrs.version}");

  pyproject = attrs.pyproject or null;
  format' =
    if pyproject != null then
      (if attrs ? format && attrs.format != null
       then throw ("${name}: `pyproject` and `format` cannot both be set; use `pyproject = true;` "
         + "(format = \"pyproject\") or `format` alone")
       else if pyproject then "pyproject" else "other")
    else if (attrs.format or null) != null then attrs.format
    else throw ("${name} does not configure a `format`. To build with setuptools as before, set `pyproject = true` "
      + "and `build-system = [ setuptools ]`.");

  formatHooks = {
    pyproject = [ hooks.pypaBuildHook hooks.pythonRuntimeDepsCheckHook hooks.pypaInstallHook ];
    setuptools = [ hooks.setuptoolsBuildHook hooks.pypaInstallHook ];
    wheel = [ hooks.wheelUnpackHook hooks.pypaInstallHook ];
    other = [ ];
  }.${format'} or (throw "${name}: unsupported format '${format'}' (use pyproject, setuptools, wheel or other)");

  wheelNameOk = n: builtins.match "[^-]+-[^-]+(-[0-9][^-]*)?-[^-]+-[^-]+-[^-]+\\.whl" n != null;
  srcName = if attrs ? src then (attrs.src.name or (baseNameOf (toString attrs.src))) else "";
  checkWheel =
    if format' != "wheel" then true
    else if !(lib.hasSuffix ".whl" srcName) || !(wheelNameOk srcName)
    then throw ("${name}: format = \"wheel\" needs `src` whose store name is a valid wheel file name "
      + "(dist-version(-build)?-python-abi-platform.whl), got '${srcName}'")
    else true;

  # "Python version mismatch": a module built for another interpreter among the inputs.
  validatePythonMatches = attrName: inputs:
    let bad = builtins.filter (d: builtins.isAttrs d && d ? pythonModule && d.pythonModule != null
      && (d.pythonModule.pythonVersion or null) != python.pythonVersion) inputs;
    in if bad == [ ] then inputs
      else throw ("Python version mismatch in '${name}': the Python module in ${attrName} was built for Python "
        + "${(builtins.head bad).pythonModule.pythonVersion}, this package for Python ${python.pythonVersion}");

  dependencies = attrs.dependencies or [ ];
  build-system = attrs.build-system or [ ];
  propagatedBuildInputs = validatePythonMatches "propagatedBuildInputs"
    ((attrs.propagatedBuildInputs or [ ]) ++ dependencies ++ [ python ]);
  buildInputs = validatePythonMatches "buildInputs" (attrs.buildInputs or [ ]);

  relax = (attrs.pythonRelaxDeps or [ ]) != [ ] || (attrs.pythonRemoveDeps or [ ]) != [ ];
  catchConflicts = attrs.catchConflicts or (!isBootstrap);

  nativeBuildInputs = [ python hooks.wrapPython hooks.pythonRemoveTestsDirHook hooks.pythonImportsCheckHook ]
    ++ formatHooks
    ++ lib.optionals relax [ hooks.pythonRelaxDepsHook ]
    ++ lib.optionals catchConflicts [ hooks.pythonCatchConflictsHook ]
    ++ (attrs.nativeBuildInputs or [ ])
    ++ build-system;

  doCheck = attrs.doCheck or true;
  disabled = attrs.disabled or false;

  # Python-only arguments that never reach mkDerivation.
  pythonOnlyArgs = [ "disabled" "dependencies" "build-system" "optional-dependencies" "pyproject" "format"
    "checkPhase" "checkInputs" "nativeCheckInputs" "doCheck" "doInstallCheck" "catchConflicts"
    "pythonRelaxDeps" "pythonRemoveDeps" "pythonImportsCheck" "dontWrapPythonPrograms" "permitUserSite"
    "removeBinBytecode" "pythonPath" "fakeRequiresDist" ];

  passthru = {
    inherit disabled pyproject build-system dependencies python;
    optional-dependencies = attrs.optional-dependencies or { };
    updateScript = null;
    tests = { };
  } // (attrs.passthru or { });

  # As nixpkgs: `dist` is appended to whatever outputs the recipe declares.
  outputs = (attrs.outputs or [ "out" ])
    ++ lib.optionals (builtins.elem format' [ "pyproject" "setuptools" "wheel" ]) [ "dist" ];

  drv = assert checkWheel; stdenv.mkDerivation (builtins.removeAttrs attrs pythonOnlyArgs // {
    inherit name pname outputs nativeBuildInputs buildInputs propagatedBuildInputs;
    doCheck = false;
    doInstallCheck = doCheck;
    nativeInstallCheckInputs = attrs.nativeCheckInputs or [ ];
    installCheckInputs = attrs.checkInputs or [ ];
    pythonImportsCheck = attrs.pythonImportsCheck or [ ];
    pythonRelaxDeps = if (attrs.pythonRelaxDeps or [ ]) == true then [ "1" ] else attrs.pythonRelaxDeps or [ ];
    pythonRemoveDeps = if (attrs.pythonRemoveDeps or [ ]) == true then [ "1" ] else attrs.pythonRemoveDeps or [ ];
    strictDeps = true;
    meta = { platforms = python.meta.platforms; isBuildPythonPackage = python.meta.platforms; } // (attrs.meta or { });
    inherit passthru;
  } // lib.optionalAttrs (attrs ? checkPhase) { installCheckPhase = attrs.checkPhase; }
    // lib.optionalAttrs (attrs.dontWrapPythonPrograms or false) { dontWrapPythonPrograms = true; });

  guarded = lib.extendDerivation
    (disabled -> throw "${name} not supported for interpreter ${python.executable}")
    { }
    drv;
in
toPythonModule guarded
