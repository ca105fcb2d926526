# Editable projects and the writable layer of a development shell:
# `mkPythonShell { editable = [ ./. ]; … }`.
#
# A project is read at evaluation time from its pyproject.toml (static PEP 621 metadata):
# its dependencies (and those of the extras asked for) join the resolution, or must be in the
# lock. Nothing of the project is copied to the store: the shell imports it from its source
# tree, so editing it needs no rebuild. The shell's hook runs resolver/mach_nix/shell_venv.py
# (its docstring is the contract), which keeps a virtual environment over the Nix environment
# (default: <first project>/.mach-nix-venv): the projects are `.pth` entries and PEP 660-style
# .dist-info there, and `pip install` / `uv pip install` write into it, never into the store.
{ util }:
let
  storeDir = builtins.storeDir;
  inStore = dir: builtins.substring 0 (builtins.stringLength storeDir + 1) dir == storeDir + "/";
  # "/nix/store/<hash>-source/sub/dir" -> "sub/dir" (a flake's source is copied to the store).
  storeSubdir = dir:
    let parts = builtins.filter builtins.isString
      (builtins.split "/" (builtins.substring (builtins.stringLength storeDir + 1) (-1) dir));
    in builtins.concatStringsSep "/" (builtins.tail parts);

  usage = "an `editable` entry is a project directory (./.) or { path = ./.; extras = [ \"test\" ]; root = \"src\"; }";

  project = spec:
    let
      attrs = if builtins.isAttrs spec then spec else { path = spec; };
      path = attrs.path or (throw "mach-nix: ${usage}");
      dir = toString path;
      file = path + "/pyproject.toml";
      toml = if builtins.pathExists file then builtins.fromTOML (builtins.readFile file) else { };
      meta = toml.project or { };
      dynamic = meta.dynamic or [ ];
      static = key: if builtins.elem key dynamic then null else meta.${key} or null;
      shown = if meta ? name then "${meta.name} (${dir})" else dir;
      optional = builtins.listToAttrs (map
        (key: { name = util.normalizeName key; value = meta.optional-dependencies.${key}; })
        (builtins.attrNames (meta.optional-dependencies or { })));
      extraDeps = builtins.concatMap
        (extra: optional.${util.normalizeName extra} or (throw ("mach-nix: the editable project ${shown} has no extra "
          + "`${extra}` (its extras: ${builtins.concatStringsSep ", " (builtins.attrNames optional)})")))
        (attrs.extras or [ ]);
      dependencies =
        if builtins.elem "dependencies" dynamic then
          throw ("mach-nix: the editable project ${shown} declares its dependencies dynamically; list them in "
            + "`requirements` (mach-nix reads only static pyproject.toml metadata)")
        else (meta.dependencies or [ ]) ++ extraDeps;
      packageDir = toml.tool.setuptools.package-dir or { };
      root = attrs.root or (if packageDir ? "" then packageDir."" else if builtins.pathExists (path + "/src") then "src"
        else "");
    in
    if !(builtins.isPath path || builtins.isString path) then throw "mach-nix: ${usage}"
    else if !(builtins.pathExists path) then throw "mach-nix: the editable project ${dir} does not exist"
    else {
      dir = if inStore dir then null else dir;
      subdir = if inStore dir then storeSubdir dir else null;
      inherit root dependencies shown;
      name = if meta ? name then util.normalizeName meta.name else null;
      version = static "version";
      scripts = if builtins.elem "scripts" dynamic then { } else meta.scripts or { };
    };
in
{
  /* The editable projects, read from their pyproject.toml files.

     Type: projects :: [Path | { path :: Path, extras ? [String], root ? String }] -> [Project] */
  projects = editable: map project (util.toList editable);

  /* The lock's editable local sources (`-e ./lib` in a requirements file) as editable projects:
     name, version and dependencies from the lock entry, the import root from the source tree
     (relative to `lockRoot`, the lock's directory; none without one, e.g. a lock given as an
     attribute set). A source that is a wheel file is not editable.

     Type: fromLock :: { lock :: Lock, lockRoot :: Path | Null } -> [Project] */
  fromLock = { lock, lockRoot }:
    let
      editableEntry = entry: entry.provider == "local" && (entry.source.editable or false)
        && !(entry.source.wheel or false);
      entries = builtins.filter editableEntry (builtins.attrValues lock.packages);
      fromEntry = entry:
        let p = project { path = lockRoot + "/${entry.source.path}"; }; in
        p // {
          inherit (entry) name version;
          dependencies = entry.dependencies;
          shown = "${entry.name} (${if p.dir != null then p.dir else entry.source.path})";
        };
    in
    if lockRoot == null then [ ] else map fromEntry entries;

  /* Their dependencies, as requirement lines for the resolution.

     Type: requirements :: [Project] -> [String] */
  requirements = builtins.concatMap (p: p.dependencies);

  /* The lock, or an error when it lacks a dependency of an editable project (one without a
     marker: a marked one may not apply to the lock's target).

     Type: checkLock :: Lock -> [Project] -> Lock */
  checkLock = lock: projects:
    let
      missing = builtins.concatMap
        (p: map (dep: { inherit p dep; }) (builtins.filter
          (dep: builtins.match ".*;.*" dep == null && !(lock.packages ? ${util.requirementName dep})) p.dependencies))
        projects;
      first = builtins.head missing;
    in
    if missing == [ ] then lock
    else throw ("mach-nix: the lock has no ${util.requirementName first.dep}, which the editable project "
      + "${first.p.shown} requires (${first.dep}); regenerate it with `mach-nix env DIR --editable PROJECT …` "
      + "or `mach-nix lock --pyproject PROJECT/pyproject.toml …`");

  /* The attributes that give a mkShell the writable layer: the spec for shell_venv.py and
     the hook that runs it and puts the venv first on PATH (VIRTUAL_ENV for uv).

     Type: shellAttrs :: { python :: Derivation, env :: Derivation, projects :: [Project],
       venvDir :: Path | String | Null } -> { machNixShell :: String, shellHook :: String } */
  shellAttrs = { python, env, projects, venvDir }: {
    machNixShell = builtins.toJSON {
      venv = if venvDir == null then null else toString venvDir;
      python = "${python}";
      interpreter = python.interpreter;
      sitePackages = python.sitePackages;
      envSitePackages = "${env}/${python.sitePackages}";
      projects = map (p: builtins.removeAttrs p [ "shown" ]) projects;
    };
    shellHook = ''
      if _machNixVenv=$(${python.interpreter} -I ${../resolver/mach_nix/shell_venv.py}); then
        export VIRTUAL_ENV="$_machNixVenv"
        export PATH="$_machNixVenv/bin:$PATH"
        unset PYTHONHOME
      else
        echo "mach-nix: the writable layer could not be made (see above); the shell has the Nix environment only" >&2
      fi
      unset _machNixVenv
    '';
  };
}
