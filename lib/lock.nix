# A lock given to mkPython (`lock = ./mach-nix.lock.json;`): read, validated and checked
# against the target it is built for (docs/lock-format.md).
#
# A lock is input the user may have edited, merged badly or received from someone else
# (docs/security.md §4). Before anything else reads it, every field the Nix side uses is
# checked once, in one pass over the packages: presence, type, shape (names, versions,
# sha256, https URLs, file names) and the references between entries (dependencies and roots
# that name a package of the lock, keys equal to `.name`). A lock that fails gets one
# `mach-nix:` error naming the fields (`packages.requests.artifact.sha256`) and the command
# that regenerates it, instead of a bare Nix error deep in the build, or a silently different
# environment. Optional fields the Nix side does not read are type-checked when present.
#
# The per-package checks that need the package set (a nixpkgs version or a wheel's glibc
# that this nixpkgs does not have) are made where the package is built, in compose.nix.
{ surface }:
let
  local = import ./local.nix { util = import ./util.nix; inherit surface; };
  # The provider orders name these; a package's provider may also be one of its own sources.
  orderNames = [ "wheel" "sdist" "nixpkgs" ];
  providerNames = orderNames ++ local.providers;

  words = {
    int = "an integer";
    float = "a number";
    string = "a string";
    bool = "true or false";
    null = "null";
    list = "a list";
    set = "an object";
    lambda = "a function";
    path = "a path";
  };

  # A value as the error shows it: strings quoted (and cut), others by their type.
  describe = v:
    let t = builtins.typeOf v; in
    if t == "string" then
      (if builtins.stringLength v > 60 then builtins.toJSON (builtins.substring 0 57 v + "...")
       else builtins.toJSON v)
    else if t == "int" || t == "float" || t == "bool" || t == "null" then builtins.toJSON v
    else words.${t} or t;

  # A key as part of a field path: plain when it looks like an identifier, else quoted.
  keyPath = k: if builtins.match "[A-Za-z0-9_-]+" k != null then k else describe k;
  join = path: k: if path == "" then keyPath k else "${path}.${keyPath k}";

  matches = re: s: builtins.match re s != null;

  # The problems (strings) of one field: missing (unless optional), of another type, or
  # what `check` says of its value (a list of problems, given the field's path).
  field = { path, set, key, type, what ? words.${type}, optional ? false, nullable ? false, check ? (_: _: [ ]) }:
    let p = join path key; in
    if !(set ? ${key}) then (if optional then [ ] else [ "${p} is missing" ])
    else
      let v = set.${key}; in
      if nullable && v == null then [ ]
      else if builtins.typeOf v != type then
        [ "${p} must be ${what}${if nullable then " or null" else ""}, not ${describe v}" ]
      else check p v;

  # A check of a string against a pattern.
  shaped = re: what: p: v: if matches re v then [ ] else [ "${p} must be ${what}, not ${describe v}" ];

  # A list whose elements are all strings, then `each` of every element (index, value).
  strings = each: p: v:
    let
      indexed = builtins.genList (i: { inherit i; v = builtins.elemAt v i; }) (builtins.length v);
      bad = builtins.filter (e: !(builtins.isString e.v)) indexed;
    in
    if bad != [ ] then
      map (e: "${p}[${toString e.i}] must be a string, not ${describe e.v}") bad
    else builtins.concatMap (e: each "${p}[${toString e.i}]" e.v) indexed;

  normalisedName = "a normalised project name (lowercase letters, digits and single dashes, as `requests` or "
    + "`zope-interface`)";
  namePattern = "[a-z0-9]+(-[a-z0-9]+)*";
  versionPattern = "[A-Za-z0-9][A-Za-z0-9._+!-]*";
  sha256Pattern = "[0-9a-f]{64}";
  fileNamePattern = "[A-Za-z0-9][A-Za-z0-9._+-]*";
  sdistPattern = ".*[.](tar[.]gz|tgz|tar[.]bz2|tbz|tar[.]xz|txz|tar|zip)";

  artifactProblems = path: provider: a:
    field {
      path = path; set = a; key = "filename"; type = "string";
      check = p: v:
        if !(matches fileNamePattern v) then [ "${p} must be a file name (letters, digits, `._+-`), not ${describe v}" ]
        else if provider == "wheel" && !(matches ".*[.]whl" v) then
          [ "${p} must be a wheel (`.whl`), not ${describe v}" ]
        else if provider == "sdist" && !(matches sdistPattern v) then
          [ "${p} must be a source archive (`.tar.gz`, `.zip`, …), not ${describe v}" ]
        else [ ];
    }
    ++ field { inherit path; set = a; key = "url"; type = "string";
      check = shaped "https://[^[:space:]]+" "an https:// URL"; }
    ++ field { inherit path; set = a; key = "sha256"; type = "string";
      check = shaped sha256Pattern "64 lowercase hexadecimal digits"; };

  # One entry of `build_packages` (a wheel of a build closure), keyed `name==version`.
  buildPackageProblems = buildPackages: key: entry:
    let path = join "build_packages" key; in
    if !(builtins.isAttrs entry) then [ "${path} must be an object, not ${describe entry}" ]
    else
      field { inherit path; set = entry; key = "name"; type = "string";
        check = shaped namePattern normalisedName; }
      ++ field { inherit path; set = entry; key = "version"; type = "string";
        check = p: v: if "${entry.name or ""}==${v}" == key then shaped versionPattern "a version" p v
          else [ "${p} is ${describe v}, but the key is ${describe key} (it must be `name==version`)" ]; }
      ++ field { inherit path; set = entry; key = "dependencies"; type = "list";
        check = strings (p: k: if k == key then [ "${p} is the package itself" ]
          else if buildPackages ? ${k} then [ ]
          else [ "${p} is ${describe k}, which is not a key of build_packages" ]); }
      ++ field { inherit path; set = entry; key = "artifact"; type = "set";
        check = p: a: artifactProblems p "wheel" a; };

  packageProblems = buildPackages: packages: roots: name: entry:
    let
      path = join "packages" name;
      provider = entry.provider or null;
      inPackages = p: dep:
        if dep == name then [ "${p} is the package itself" ]
        else if packages ? ${dep} then [ ] else [ "${p} is ${describe dep}, which is not a key of packages" ];
      knownProvider = builtins.isString provider && builtins.elem provider providerNames;
    in
    if !(builtins.isAttrs entry) then [ "${path} must be an object, not ${describe entry}" ]
    else
      (if name == "" then [ "packages has an empty key" ]
       else if !(matches namePattern name) then
         [ "packages has the key ${describe name}, which is not ${normalisedName}" ]
       else [ ])
      ++ field { inherit path; set = entry; key = "name"; type = "string";
        check = p: v: if v == "" then [ "${p} is empty" ]
          else if v != name then [ "${p} is ${describe v}, but its key in packages is ${describe name}" ] else [ ]; }
      ++ field { inherit path; set = entry; key = "version"; type = "string";
        check = p: v: if v == "" then [ "${p} is empty" ]
          else shaped versionPattern "a version (letters, digits, `._+!-`)" p v; }
      ++ field { inherit path; set = entry; key = "provider"; type = "string";
        check = p: v: if knownProvider then [ ]
          else [ "${p} is ${describe v}, not one of ${builtins.concatStringsSep ", " providerNames}" ]; }
      ++ field { inherit path; set = entry; key = "dependencies"; type = "list"; check = strings inPackages; }
      ++ field { inherit path; set = entry; key = "extras"; type = "list"; optional = true;
        check = strings (_: _: [ ]); }
      ++ field { inherit path; set = entry; key = "root"; type = "bool"; optional = true;
        check = p: v: if v && !(roots ? ${name}) then [ "${p} is true, but roots does not list ${describe name}" ]
          else if !v && roots ? ${name} then [ "${p} is false, but roots lists ${describe name}" ] else [ ]; }
      ++ field { inherit path; set = entry; key = "yanked"; type = "bool"; optional = true; }
      ++ field { inherit path; set = entry; key = "build_requires"; type = "list"; optional = true;
        check = strings (_: _: [ ]); }
      ++ field { inherit path; set = entry; key = "build_system"; type = "list"; optional = true;
        check = strings (p: k: if builtins.isAttrs buildPackages && buildPackages ? ${k} then [ ]
          else [ "${p} is ${describe k}, which is not a key of build_packages" ]); }
      ++ field { inherit path; set = entry; key = "build_system_unlocked"; type = "bool"; optional = true; }
      ++ field { inherit path; set = entry; key = "dependencies_known"; type = "bool"; optional = true; }
      ++ field { inherit path; set = entry; key = "nixpkgs_attr"; type = "string"; optional = provider != "nixpkgs";
        check = shaped "[A-Za-z_][A-Za-z0-9_'-]*" "an attribute name of the Python package set"; }
      ++ (if provider == "wheel" || provider == "sdist" then
        field { inherit path; set = entry; key = "artifact"; type = "set";
          check = p: a: artifactProblems p provider a; }
      else if knownProvider && provider != "nixpkgs" then
        field { inherit path; set = entry; key = "source"; type = "set";
          check = _: local.problems path provider; }
      else [ ]);

  targetProblems = t:
    field { path = "target"; set = t; key = "python"; type = "string";
      check = shaped "[0-9]+[.][0-9]+[.][0-9]+" "a full CPython version (`3.11.7`)"; }
    ++ field { path = "target"; set = t; key = "system"; type = "string"; }
    ++ field { path = "target"; set = t; key = "implementation"; type = "string"; optional = true;
      check = p: v: if v == "cpython" then [ ] else [ "${p} must be \"cpython\", not ${describe v}" ]; }
    ++ field { path = "target"; set = t; key = "glibc"; type = "string"; optional = true; nullable = true; }
    ++ field { path = "target"; set = t; key = "macos"; type = "string"; optional = true; nullable = true; };

  /*
    Every problem of a parsed lock of format version 2, as messages naming the field
    (`packages.requests.artifact.sha256 must be …`); [ ] for a valid lock. Its target is not
    compared with any build here (see `check`).

    Type: problems :: Any -> [String]
  */
  problems = l:
    if !(builtins.isAttrs l) then [ "the lock must be a JSON object, not ${describe l}" ]
    else
      let
        packages = l.packages or null;
        # The roots as a set, when they are a list of strings (else their own problem).
        roots = if builtins.isList (l.roots or null) then
          builtins.listToAttrs (map (n: { name = n; value = true; }) (builtins.filter builtins.isString l.roots))
        else { };
        names = builtins.attrNames packages;
        buildPackages = l.build_packages or { };
      in
      field { path = ""; set = l; key = "version"; type = "int"; what = "the integer ${toString version}";
        check = p: v: if v == version then [ ]
          else [ "${p} is ${describe v}: this mach-nix reads format version ${toString version}" ]; }
      ++ field { path = ""; set = l; key = "build_packages"; type = "set"; optional = true;
        check = _: v: builtins.concatMap (k: buildPackageProblems v k v.${k}) (builtins.attrNames v); }
      ++ field { path = ""; set = l; key = "target"; type = "set"; check = _: targetProblems; }
      ++ field { path = ""; set = l; key = "inputs_hash"; type = "string"; optional = true;
        check = shaped "sha256:${sha256Pattern}" "`sha256:` and 64 lowercase hexadecimal digits"; }
      ++ field { path = ""; set = l; key = "providers"; type = "set"; optional = true;
        check = p: v: builtins.concatMap
          (k: field { path = p; set = v; key = k; type = "list";
            check = strings (q: s: if builtins.elem s orderNames then [ ]
              else [ "${q} is ${describe s}, not one of ${builtins.concatStringsSep ", " orderNames}" ]); })
          (builtins.attrNames v); }
      ++ field { path = ""; set = l; key = "roots"; type = "list";
        check = strings (p: r: if !(builtins.isAttrs packages) || packages ? ${r} then [ ]
          else [ "${p} is ${describe r}, which is not a key of packages" ]); }
      ++ field { path = ""; set = l; key = "packages"; type = "set";
        check = _: _: builtins.concatMap
          (name: packageProblems buildPackages packages roots name packages.${name}) names; };

  # The lock format version this library reads (docs/lock-format.md).
  version = 2;

  # At most this many problems are listed in the error.
  shown = 5;
in
{
  inherit problems;

  /*
    The lock, or an error saying what is wrong and how to regenerate it: a lock that is not
    valid (see `problems`), or of another format version, Python minor version or system
    than this build's.

    Type: check :: { lock :: Path | AttrSet, basePython :: Derivation, pythonAttr :: String } -> Lock
  */
  check = { lock, basePython, pythonAttr }:
    let
      l = if builtins.isAttrs lock then lock else builtins.fromJSON (builtins.readFile lock);
      source = if builtins.isAttrs lock then "the lock given" else toString lock;
      file = if builtins.isAttrs lock then "mach-nix.lock.json" else baseNameOf (toString lock);
      redo = "re-run `mach-nix lock --python ${basePython.version} --system ${surface.system}`";
      regenerate = "Regenerate it: re-run the `mach-nix lock` (or `mach-nix env`) command that wrote it, "
        + "e.g. `mach-nix lock -r requirements.txt --python ${basePython.version} --system ${surface.system} "
        + "-o ${file}`; never edit a lock by hand.";
      found = problems l;
      count = builtins.length found;
      listed = builtins.genList (i: builtins.elemAt found i) (if count < shown then count else shown);
      lockPython = l.target.python;
      lockMinor = builtins.concatStringsSep "."
        (builtins.genList (builtins.elemAt (builtins.splitVersion lockPython)) 2);
      lockSystem = l.target.system;
    in
    if builtins.isAttrs l && builtins.isInt (l.version or null) && l.version < version then
      throw ("mach-nix: ${source} is a mach-nix lock of format version ${toString l.version}, which does not lock "
        + "the build systems of sdists; this mach-nix reads format version ${toString version}. Rewrite it with "
        + "the command that made it, e.g. `mach-nix lock -r requirements.txt --python ${basePython.version} "
        + "--system ${surface.system} -o ${file}`")
    else if !(builtins.isAttrs l) || !(l ? version) || (builtins.isInt l.version && l.version != version) then
      throw ("mach-nix: ${source} is not a mach-nix lock of format version ${toString version}; "
        + "regenerate it with `mach-nix lock`")
    else if found != [ ] then
      throw ("mach-nix: ${source} is not a valid mach-nix lock (damaged, or edited by hand):\n"
        + builtins.concatStringsSep "" (map (m: "  ${m}\n") listed)
        + (if count > shown then "  (and ${toString (count - shown)} more)\n" else "")
        + regenerate)
    else if lockMinor != basePython.pythonVersion then
      throw ("mach-nix: the lock was made for Python ${lockPython}, "
        + "but `${pythonAttr}` is Python ${basePython.version}; ${redo}")
    else if lockSystem != surface.system then
      throw "mach-nix: the lock was made for ${lockSystem}, but this build is for ${surface.system}; ${redo}"
    else l;
}
