# A pylock.toml (PEP 751) given to mkPython (`lock = ./pylock.toml;`): read, validated, and
# turned into the mach-nix lock (docs/lock-format.md) that compose.nix builds, for this build's
# interpreter and system. docs/pylock.md lists the fields read and what is refused.
#
# Like lib/lock.nix, every field the conversion reads is checked first, in one pass, and a
# file that fails gets one `mach-nix:` error naming the file and the fields
# (`packages[3] (requests).wheels[0].hashes`), never a bare Nix error later in the build.
# Then, as PEP 751's installation steps say: `lock-version` 1.x; `requires-python` and one
# of `environments` must hold for the target; a package whose `marker` is false is left out,
# one whose `requires-python` is false is an error; each name must remain once; for each
# package the best-ranked wheel that fits the target (lib/wheeltags.nix), else its sdist,
# else its `archive` (a URL); a `directory` package is the lock's `local` source (its path
# relative to the pylock.toml), a `vcs` one (git, by commit) its `vcs` source, a file given by
# `path` (relative to it) a `local` file source, checked by its sha256. A file mach-nix wrote
# (`mach-nix lock --format pylock`) carries its roots, extras, build requirements and
# native-library needs in the `tool.mach-nix` tables; those are read
# back, so it builds what the JSON lock builds. Without them, the roots are the packages no
# other depends on, and an sdist gets PEP 517's default build requirement.
#
# Nix 2.8's fromTOML refuses dates and times: bare date-time values (`upload-time = 2025-…`)
# are turned into strings before the text is parsed (no field read here is a date).
{ util, surface }:
let
  pep508 = import ./pep508.nix { };
  wheeltags = import ./wheeltags.nix { };

  words = {
    int = "an integer"; float = "a number"; string = "a string"; bool = "true or false"; null = "null";
    list = "an array"; set = "a table"; lambda = "a function"; path = "a path";
  };
  describe = v:
    let t = builtins.typeOf v; in
    if t == "string" then
      (if builtins.stringLength v > 60 then builtins.toJSON (builtins.substring 0 57 v + "...") else builtins.toJSON v)
    else if t == "int" || t == "float" || t == "bool" then builtins.toJSON v
    else words.${t} or t;
  matches = re: s: builtins.match re s != null;
  indexed = l: builtins.genList (i: { inherit i; v = builtins.elemAt l i; }) (builtins.length l);

  # Problems of one field (see lib/lock.nix): missing unless optional, another type, or `check`.
  field = { path, set, key, type, optional ? false, check ? (_: _: [ ]) }:
    let p = "${path}${if path == "" then "" else "."}${key}"; in
    if !(set ? ${key}) then (if optional then [ ] else [ "${p} is missing" ])
    else if builtins.typeOf set.${key} != type then [ "${p} must be ${words.${type}}, not ${describe set.${key}}" ]
    else check p set.${key};

  strings = p: v: builtins.concatMap
    (e: if builtins.isString e.v then [ ] else [ "${p}[${toString e.i}] must be a string, not ${describe e.v}" ])
    (indexed v);
  shaped = re: what: p: v: if matches re v then [ ] else [ "${p} must be ${what}, not ${describe v}" ];

  hex64 = "[0-9a-fA-F]{64}";
  fileProblems = p: f:
    if !(builtins.isAttrs f) then [ "${p} must be a table, not ${describe f}" ]
    else
      (if f ? path && !(f ? url) then
        field { path = p; set = f; key = "path"; type = "string";
          check = q: v: if builtins.substring 0 1 v == "/" then [ ("${q} is the absolute path ${describe v}: "
            + "mach-nix reads files given by path relative to the pylock.toml") ] else [ ]; }
      else field { path = p; set = f; key = "url"; type = "string";
        check = shaped "https://[^[:space:]]+" "an https:// URL"; })
      ++ field { path = p; set = f; key = "name"; type = "string"; optional = true;
        check = shaped "[A-Za-z0-9][A-Za-z0-9._+-]*" "a file name"; }
      ++ field { path = p; set = f; key = "size"; type = "int"; optional = true; }
      ++ field { path = p; set = f; key = "hashes"; type = "set";
        check = q: h: if !(h ? sha256) then [ "${q} has no sha256 (mach-nix fetches files by their sha256)" ]
          else field { path = q; set = h; key = "sha256"; type = "string";
            check = shaped hex64 "64 hexadecimal digits"; }; };

  packageProblems = e:
    let
      pkg = e.v;
      p = "packages[${toString e.i}]${if builtins.isAttrs pkg && builtins.isString (pkg.name or null)
        then " (${pkg.name})" else ""}";
      sources = builtins.filter (k: pkg ? ${k}) [ "vcs" "directory" "archive" ];
    in
    if !(builtins.isAttrs pkg) then [ "${p} must be a table, not ${describe pkg}" ]
    else
      field { path = p; set = pkg; key = "name"; type = "string";
        check = shaped "[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?" "a project name"; }
      ++ field { path = p; set = pkg; key = "version"; type = "string"; optional = true; }
      ++ field { path = p; set = pkg; key = "marker"; type = "string"; optional = true; }
      ++ field { path = p; set = pkg; key = "requires-python"; type = "string"; optional = true; }
      ++ field { path = p; set = pkg; key = "dependencies"; type = "list"; optional = true;
        check = q: v: builtins.concatMap (d: if builtins.isAttrs d.v && builtins.isString (d.v.name or null) then [ ]
          else [ "${q}[${toString d.i}] must be a table with a `name`" ]) (indexed v); }
      ++ field { path = p; set = pkg; key = "wheels"; type = "list"; optional = true;
        check = q: v: builtins.concatMap (w: fileProblems "${q}[${toString w.i}]" w.v) (indexed v); }
      ++ field { path = p; set = pkg; key = "sdist"; type = "set"; optional = true; check = fileProblems; }
      ++ field { path = p; set = pkg; key = "archive"; type = "set"; optional = true; check = fileProblems; }
      ++ field { path = p; set = pkg; key = "directory"; type = "set"; optional = true;
        check = q: d: field { path = q; set = d; key = "path"; type = "string"; }
          ++ field { path = q; set = d; key = "editable"; type = "bool"; optional = true; }
          ++ field { path = q; set = d; key = "subdirectory"; type = "string"; optional = true; }; }
      ++ field { path = p; set = pkg; key = "vcs"; type = "set"; optional = true;
        check = q: v: field { path = q; set = v; key = "type"; type = "string";
            check = r: t: if t == "git" then [ ]
              else [ "${r} is ${describe t}: mach-nix fetches git repositories only" ]; }
          ++ field { path = q; set = v; key = "url"; type = "string"; }
          ++ field { path = q; set = v; key = "commit-id"; type = "string";
            check = shaped "[0-9a-f]{40}" "a full commit id (40 hexadecimal digits)"; }
          ++ field { path = q; set = v; key = "requested-revision"; type = "string"; optional = true; }
          ++ field { path = q; set = v; key = "subdirectory"; type = "string"; optional = true; }; }
      ++ (if builtins.length sources > 1 then
        [ "${p} has ${builtins.concatStringsSep " and " sources} (PEP 751: mutually exclusive)" ]
      else if sources != [ ] && (pkg ? wheels || pkg ? sdist) then
        [ "${p} has both `${builtins.head sources}` and wheels/sdist (PEP 751: mutually exclusive)" ]
      else if sources == [ ] && !(pkg ? wheels) && !(pkg ? sdist) then
        [ "${p} has no wheels, sdist or archive: nothing to build it from" ]
      else [ ])
      ++ field { path = p; set = pkg; key = "tool"; type = "set"; optional = true; };

  toolProblems = t:
    field { path = "tool"; set = t; key = "mach-nix"; type = "set"; optional = true;
      check = p: m: field { path = p; set = m; key = "roots"; type = "list"; optional = true; check = strings; }; };

  /*
    Every problem of a parsed pylock.toml (messages naming the fields); [ ] when valid.

    Type: problems :: Any -> [String]
  */
  problems = l:
    if !(builtins.isAttrs l) then [ "the file must be a TOML table" ]
    else
      field { path = ""; set = l; key = "lock-version"; type = "string";
        check = p: v: if matches "1([.][0-9]+)?" v then [ ]
          else [ "${p} is ${describe v}: this mach-nix reads pylock.toml version 1 (PEP 751)" ]; }
      ++ field { path = ""; set = l; key = "created-by"; type = "string"; }
      ++ field { path = ""; set = l; key = "environments"; type = "list"; optional = true; check = strings; }
      ++ field { path = ""; set = l; key = "requires-python"; type = "string"; optional = true; }
      ++ field { path = ""; set = l; key = "default-groups"; type = "list"; optional = true; check = strings; }
      ++ field { path = ""; set = l; key = "tool"; type = "set"; optional = true; check = _: toolProblems; }
      ++ field { path = ""; set = l; key = "packages"; type = "list";
        check = _: v: builtins.concatMap packageProblems (indexed v); };

  dateTime = "[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?";

  /*
    The text with every bare date-time value (`key = 2025-01-25T11:30:10Z`) quoted, for
    Nix 2.8's fromTOML, which refuses dates.

    Type: quoteDates :: String -> String
  */
  quoteDates = text:
    let parts = builtins.split "(=[[:space:]]*)(${dateTime})" text; in
    builtins.concatStringsSep "" (map (x: if builtins.isString x then x
      else "${builtins.elemAt x 0}\"${builtins.elemAt x 1}\"") parts);

  baseName = url: let parts = builtins.filter builtins.isString (builtins.split "/" url); in
    builtins.elemAt parts (builtins.length parts - 1);
  fileName = f: f.name or (baseName (builtins.head (builtins.split "[?#]" (f.url or f.path))));
  artifactOf = f: { filename = fileName f; url = f.url; sha256 = util.toLower f.hashes.sha256; };
  isWheelName = name: util.hasSuffix ".whl" name;
in
{
  inherit problems quoteDates;

  /*
    Whether a `lock` argument is a pylock.toml: a path whose name ends in `.toml`, or a
    parsed table with `lock-version`.

    Type: isPylock :: Path | AttrSet | String -> Bool
  */
  isPylock = lock: if builtins.isAttrs lock then lock ? "lock-version" else util.hasSuffix ".toml" (toString lock);

  /*
    The mach-nix lock of a pylock.toml for this build's interpreter and system, or an error
    naming the file and the field.

    Type: toLock :: { lock :: Path | AttrSet, basePython :: Derivation } -> Lock
  */
  toLock = { lock, basePython }:
    let
      source = if builtins.isAttrs lock then "the pylock.toml given" else toString lock;
      l = if builtins.isAttrs lock then lock else builtins.fromTOML (quoteDates (builtins.readFile lock));
      fail = msg: throw "mach-nix: ${source}: ${msg}";
      found = problems l;
      shown = 5;
      count = builtins.length found;
      python = basePython.version;
      minor = builtins.fromJSON (builtins.elemAt (builtins.splitVersion python) 1);
      env = pep508.environment {
        inherit python; inherit (surface) system;
        dependencyGroups = l.default-groups or [ ];
      };
      target = { inherit minor; inherit (surface) system glibc; };
      here = "CPython ${python} on ${surface.system}";
      tool = (l.tool or { }).mach-nix or { };

      # The entries for this target (markers hold), each checked against requires-python.
      at = e: key: "${source}: packages[${toString e.i}] (${e.v.name}).${key}: ";
      selected = builtins.filter (e: !(e.v ? marker) || pep508.evaluateAt (at e "marker") env e.v.marker)
        (indexed l.packages);
      checkPython = e:
        if e.v ? requires-python && !(pep508.satisfiesAt (at e "requires-python") python e.v.requires-python) then
          fail "packages[${toString e.i}] (${e.v.name}) requires Python ${e.v.requires-python}, not ${here}"
        else e;
      named = map (e: checkPython e // { name = util.normalizeName e.v.name; }) selected;
      names = map (e: e.name) named;
      duplicates = builtins.filter (n: builtins.length (builtins.filter (m: m == n) names) > 1) (util.unique names);

      # A chosen file: { provider; artifact; } by URL, or the lock's `local` source for a file
      # given by `path` (relative to the pylock.toml), checked by its sha256 when copied.
      pick = provider: f:
        if f ? url then { inherit provider; artifact = artifactOf f; }
        else {
          provider = "local";
          source = { inherit (f) path; sha256 = util.toLower f.hashes.sha256; }
            // util.optionalAttrs (provider == "wheel") { wheel = true; };
        };

      # The artifact of an entry: { provider; artifact; } (or a local source, see `pick`).
      choose = e:
        let
          pkg = e.v;
          wheels = map (w: { file = w; rank = wheeltags.rank target (fileName w); }) (pkg.wheels or [ ]);
          fitting = builtins.sort (a: b: a.rank < b.rank || (a.rank == b.rank && fileName a.file < fileName b.file))
            (builtins.filter (w: w.rank != null) wheels);
          archiveName = fileName pkg.archive;
        in
        if fitting != [ ] then pick "wheel" (builtins.head fitting).file
        else if pkg ? sdist then pick "sdist" pkg.sdist
        else if pkg ? archive && isWheelName archiveName then
          (if wheeltags.rank target archiveName != null then pick "wheel" pkg.archive
           else fail "packages[${toString e.i}] (${e.name}): the archive ${archiveName} does not fit ${here}")
        else if pkg ? archive then pick "sdist" pkg.archive
        else fail ("packages[${toString e.i}] (${e.name}) has no wheel for ${here} ("
          + builtins.concatStringsSep ", " (map (w: fileName w.file) wheels) + ") and no sdist");

      anyDependencies = builtins.any (e: e.v ? dependencies) named;
      depsOf = e: builtins.filter (d: d != e.name && builtins.elem d names)
        (util.unique (map (d: util.normalizeName d.name) (e.v.dependencies or [ ])));
      dependedOn = util.toSet (builtins.concatMap depsOf named);
      roots =
        if tool ? roots then builtins.filter (n: builtins.elem n names) (map util.normalizeName tool.roots)
        else if anyDependencies then builtins.filter (n: !(dependedOn ? ${n})) names
        else names;
      rootSet = util.toSet roots;

      # A `directory` or `vcs` package: the lock's `local` or `vcs` source (paths stay relative to
      # the pylock.toml, which is the lock's directory: lib/local.nix).
      sourceOf = e:
        let d = e.v.directory; v = e.v.vcs; in
        if e.v ? directory then {
          provider = "local";
          source = { path = d.path + (if d ? subdirectory then "/${d.subdirectory}" else ""); }
            // util.optionalAttrs (d.editable or false) { editable = true; };
        } else if e.v ? vcs then {
          provider = "vcs";
          source = { inherit (v) url; rev = v.commit-id; }
            // util.optionalAttrs (v ? requested-revision) { ref = v.requested-revision; }
            // util.optionalAttrs (v ? subdirectory) { inherit (v) subdirectory; };
        } else null;

      entryOf = e:
        let
          fromSource = sourceOf e;
          chosen = if fromSource != null then fromSource else choose e;
          extra = (e.v.tool or { }).mach-nix or { };
          version = e.v.version or (fail "packages[${toString e.i}] (${e.name}) has no version");
        in
        {
          name = e.name;
          value = {
            name = e.name;
            inherit version;
            inherit (chosen) provider;
            dependencies = depsOf e;
            extras = extra.extras or [ ];
            root = rootSet ? ${e.name};
          } // (if chosen ? source then { inherit (chosen) source; } else {
            artifact = chosen.artifact
              // util.optionalAttrs (chosen.provider == "wheel" && extra ? needed) { inherit (extra) needed; }
              // util.optionalAttrs (chosen.provider == "wheel" && extra ? needed-from) {
                needed_from = extra.needed-from;
              };
          }) // util.optionalAttrs (chosen.provider != "wheel" && !(chosen.source.wheel or false)) {
            build_requires = extra.build-requires or [ "setuptools>=40.8.0" ];
            # pylock.toml has no build-system closures: the set's build tools build it.
            build_system_unlocked = true;
          } // util.optionalAttrs (extra.yanked or false) { yanked = true; }
            // util.optionalAttrs (!(e.v ? dependencies) && !anyDependencies) {
            # No entry lists its dependencies (pip's files): the build cannot import-check a
            # package whose dependencies are not wired (compose.nix).
            dependencies_listed = false;
          };
        };
    in
    if !(builtins.isAttrs l) then fail "not a TOML table"
    else if found != [ ] then
      throw ("mach-nix: ${source} is not a pylock.toml mach-nix can build (PEP 751):\n"
        + builtins.concatStringsSep "" (map (m: "  ${m}\n")
          (builtins.genList (builtins.elemAt found) (if count < shown then count else shown)))
        + (if count > shown then "  (and ${toString (count - shown)} more)\n" else "")
        + "Regenerate it with the tool that wrote it (`created-by`), or with `mach-nix lock --format pylock`.")
    else if l ? requires-python && !(pep508.satisfiesAt "${source}: requires-python: " python l.requires-python) then
      fail "requires-python is ${l.requires-python}, but this build is ${here}; choose another `python`"
    else if l ? environments && !(builtins.any (pep508.evaluateAt "${source}: environments: " env) l.environments) then
      fail ("none of its environments holds for ${here}: "
        + builtins.concatStringsSep "; " l.environments + ". Lock for this target (e.g. `mach-nix lock --format "
        + "pylock --python ${python} --system ${surface.system}`)")
    else if duplicates != [ ] then
      fail ("${builtins.head duplicates} is listed more than once for ${here} (PEP 751: packages must narrow "
        + "down to one entry each); mach-nix reads single-entry packages only")
    else
      {
        version = 2;
        build_packages = { };
        target = {
          inherit python;
          implementation = "cpython";
          inherit (surface) system;
          glibc = surface.glibc;
          macos = null;
        };
        roots = builtins.sort (a: b: a < b) roots;
        packages = builtins.listToAttrs (map entryOf named);
      };
}
