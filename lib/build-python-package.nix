# buildPythonPackage / buildPythonApplication from source, as in the original mach-nix: `src` is a
# project directory, an archive, or a tarball URL. Its name, version, dependencies and build
# system come from its own files (PEP 621 pyproject.toml, setup.cfg, or setup.py through its
# PEP 517 hook, confined), read by the evaluation-time resolver, which resolves its
# requirements together with `requirements` (the same arguments as mkPython). The package is
# the one the resolution's package set builds (lib/compose.nix, provider `local`), so that it
# and its dependencies are one consistent set; it can go into mkPython's `packagesExtra`.
{ util, machNixWith, knownArgs }:
let
  build = application: args:
    let
      src = args.src or (throw ("mach-nix.buildPythonPackage: `src` is missing: a project directory (src = ./.;), "
        + "an archive, or a tarball URL"));
      source =
        if builtins.isString src && builtins.match "(https?|file)://.*" src != null then builtins.fetchTarball src
        else src;
      stored = "${source}";
      machArgs = builtins.intersectAttrs (util.genAttrs knownArgs (_: null)) args;
      # Everything else is an attribute of the package (doCheck, nativeBuildInputs, …).
      own = builtins.removeAttrs args (knownArgs ++ [ "src" "pname" "version" ]);
      r = machNixWith (machArgs // { sources = [ source ] ++ util.toList (machArgs.sources or [ ]); });
      packages = r.lock.packages;
      mine = builtins.filter
        (name: packages.${name}.provider == "local" && packages.${name}.source.path == baseNameOf stored)
        (builtins.attrNames packages);
      name = if mine != [ ] then builtins.head mine
        else throw "mach-nix.buildPythonPackage: ${stored} is not in the resolution's lock (a bug of mach-nix)";
      entry = packages.${name};
      expect = key: found:
        if args ? ${key} && args.${key} != found && (key != "pname" || util.normalizeName args.${key} != found) then
          throw ("mach-nix.buildPythonPackage: `${key} = \"${args.${key}}\"`, but the project's own metadata says "
            + "${found}; drop `${key}` (it is read from the source) or fix the project")
        else true;
      pkg = r.python.pkgs.${name};
      built = if own == { } then pkg else pkg.overridePythonAttrs (_: own);
    in
    assert expect "pname" entry.name;
    assert expect "version" entry.version;
    if application then r.python.pkgs.toPythonApplication built else built;
in
{
  /* A Python package built from `src` (Args of mkPython, plus `src` and attributes of the package).

     Type: buildPythonPackage :: Args // { src :: Path | String, ... } -> Derivation */
  buildPythonPackage = build false;

  /* The same as an application (its bin/ in mkPython's environment, not its modules).

     Type: buildPythonApplication :: Args // { src :: Path | String, ... } -> Derivation */
  buildPythonApplication = build true;
}
