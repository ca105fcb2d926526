# A lock for several targets (`mach-nix lock --system … --python …`, docs/lock-format.md "Several
# targets") given to mkPython: the container is validated field by field (docs/security.md §4), as
# lib/lock.nix validates a lock, then the entry for this build's interpreter and system is picked and
# handed on as a single-target lock (lib/lock.nix's `check` validates that one completely). A build
# whose target the lock lacks gets one error listing the targets it has and the command that adds it.
#
# Only `target` (`python`, `system`) of the inner locks is read here: their format is lib/lock.nix's.
{ surface }:
let
  kind = "mach-nix-targets";

  words = {
    int = "an integer"; float = "a number"; string = "a string"; bool = "true or false"; null = "null";
    list = "a list"; set = "an object"; lambda = "a function"; path = "a path";
  };
  # A value as the error shows it: strings quoted (and cut), others by their type.
  describe = v:
    let t = builtins.typeOf v; in
    if t == "string" then
      (if builtins.stringLength v > 60 then builtins.toJSON (builtins.substring 0 57 v + "...") else builtins.toJSON v)
    else if t == "int" || t == "float" || t == "bool" || t == "null" then builtins.toJSON v
    else words.${t} or t;
  keyPath = k: if builtins.match "[A-Za-z0-9_-]+" k != null then k else describe k;
  join = path: k: if path == "" then keyPath k else "${path}.${keyPath k}";
  indexed = l: builtins.genList (i: { inherit i; v = builtins.elemAt l i; }) (builtins.length l);

  # Problems of one field (as lib/lock.nix's): missing unless optional, another type, or `check`.
  field = { path, set, key, type, what ? words.${type}, optional ? false, check ? (_: _: [ ]) }:
    let p = join path key; in
    if !(set ? ${key}) then (if optional then [ ] else [ "${p} is missing" ])
    else if builtins.typeOf set.${key} != type then [ "${p} must be ${what}, not ${describe set.${key}}" ]
    else check p set.${key};

  # The key a target has in the container: `<python>-<system>` of its lock's `target`.
  keyOf = t: "${t.python}-${t.system}";
  minorOf = version:
    builtins.concatStringsSep "." (builtins.genList (builtins.elemAt (builtins.splitVersion version)) 2);

  targetProblems = targets: key:
    let p = join "targets" key; entry = targets.${key}; in
    if !(builtins.isAttrs entry) then [ "${p} must be an object (a mach-nix lock), not ${describe entry}" ]
    else field { path = p; set = entry; key = "target"; type = "set";
      check = q: t:
        let parts = field { path = q; set = t; key = "python"; type = "string"; }
          ++ field { path = q; set = t; key = "system"; type = "string"; };
        in
        if parts != [ ] then parts
        else if keyOf t != key then [ "${p} is the lock of ${describe (keyOf t)}, not of its key" ] else [ ]; };

  orderProblems = targets: p: order:
    let
      bad = builtins.filter (e: !(builtins.isString e.v)) (indexed order);
      names = builtins.filter builtins.isString order;
      unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ] names;
    in
    if bad != [ ] then map (e: "${p}[${toString e.i}] must be a string, not ${describe e.v}") bad
    else if order == [ ] then [ "${p} is empty: the lock has no target" ]
    else if unique != names then [ "${p} names a target more than once" ]
    else if builtins.isAttrs targets then
      map (k: "${p} lists ${describe k}, which is not a key of targets")
        (builtins.filter (k: !(targets ? ${k})) names)
      ++ map (k: "targets.${keyPath k} is not listed in ${p}") (builtins.filter (k: !(builtins.elem k names))
        (builtins.attrNames targets))
    else [ ];

  differenceProblems = p: list: builtins.concatMap (e:
    let q = "${p}[${toString e.i}]"; d = e.v; in
    if !(builtins.isAttrs d) then [ "${q} must be an object, not ${describe d}" ]
    else field { path = q; set = d; key = "name"; type = "string"; }
      ++ field { path = q; set = d; key = "reason"; type = "string"; }
      ++ field { path = q; set = d; key = "versions"; type = "set";
        check = r: vs: builtins.concatMap (k:
          if builtins.isString vs.${k} || vs.${k} == null then [ ]
          else [ "${join r k} must be a string or null, not ${describe vs.${k}}" ]) (builtins.attrNames vs); })
    (indexed list);

  # At most this many problems are listed in the error.
  shown = 5;
in
rec {
  /*
    Whether a `lock` argument (a path or a parsed JSON object) is a lock for several targets:
    an object whose `kind` is "mach-nix-targets" (a path is read as JSON: a single-target lock is
    read again by lib/lock.nix).

    Type: isTargets :: Path | AttrSet | String -> Bool
  */
  isTargets = lock:
    let c = if builtins.isAttrs lock then lock else builtins.fromJSON (builtins.readFile lock); in
    builtins.isAttrs c && (c.kind or null) == kind;

  /*
    Every problem of a parsed container (messages naming the field, `targets.3.12.11-x86_64-linux.target`);
    [ ] for a valid one. The inner locks are only checked for their `target` here.

    Type: problems :: Any -> [String]
  */
  problems = c:
    if !(builtins.isAttrs c) then [ "the lock must be a JSON object, not ${describe c}" ]
    else
      let targets = c.targets or null; in
      field { path = ""; set = c; key = "kind"; type = "string";
        check = p: v: if v == kind then [ ] else [ "${p} is ${describe v}, not \"${kind}\"" ]; }
      ++ field { path = ""; set = c; key = "version"; type = "int"; what = "the integer 1";
        check = p: v: if v == 1 then [ ]
          else [ "${p} is ${describe v}: this mach-nix reads version 1 of the container" ]; }
      ++ field { path = ""; set = c; key = "targets"; type = "set";
        check = _: t: builtins.concatMap (targetProblems t) (builtins.attrNames t); }
      ++ field { path = ""; set = c; key = "order"; type = "list"; check = orderProblems targets; }
      ++ field { path = ""; set = c; key = "differences"; type = "list"; optional = true; check = differenceProblems; };

  /*
    The single-target lock of a container for this build: the entry of exactly the interpreter's
    version and `stdenv.hostPlatform.system`, else the first (in `order`) of its minor version and
    that system. Throws when the container is not valid or has no such entry, listing the targets it
    has and the `mach-nix lock` command that adds the missing one.

    Type: pick :: { lock :: Path | AttrSet, basePython :: Derivation } -> AttrSet
  */
  pick = { lock, basePython }:
    let
      c = if builtins.isAttrs lock then lock else builtins.fromJSON (builtins.readFile lock);
      source = if builtins.isAttrs lock then "the lock given" else toString lock;
      file = if builtins.isAttrs lock then "mach-nix.lock.json" else baseNameOf (toString lock);
      found = problems c;
      count = builtins.length found;
      listed = builtins.genList (i: builtins.elemAt found i) (if count < shown then count else shown);
      system = surface.system;
      exact = "${basePython.version}-${system}";
      sameMinor = builtins.filter
        (k: c.targets.${k}.target.system == system && minorOf c.targets.${k}.target.python == basePython.pythonVersion)
        c.order;
      targetsOf = map (k: c.targets.${k}.target) c.order;
      unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
      systems = unique (map (t: t.system) targetsOf ++ [ system ]);
      pythons = unique (map (t: minorOf t.python) targetsOf ++ [ basePython.pythonVersion ]);
      command = "mach-nix lock -r requirements.txt "
        + builtins.concatStringsSep " " (map (s: "--system ${s}") systems ++ map (v: "--python ${v}") pythons)
        + " -o ${file}";
    in
    if found != [ ] then
      throw ("mach-nix: ${source} is not a valid mach-nix lock for several targets (damaged, or edited by hand):\n"
        + builtins.concatStringsSep "" (map (m: "  ${m}\n") listed)
        + (if count > shown then "  (and ${toString (count - shown)} more)\n" else "")
        + "Regenerate it: re-run the `mach-nix lock` command that wrote it; never edit a lock by hand.")
    else if c.targets ? ${exact} then c.targets.${exact}
    else if sameMinor != [ ] then c.targets.${builtins.head sameMinor}
    else
      throw ("mach-nix: ${source} has no entry for Python ${basePython.version} on ${system}; its targets are "
        + builtins.concatStringsSep ", " c.order + ". Add this one: re-run the `mach-nix lock` that wrote it with "
        + "`--system ${system} --python ${basePython.pythonVersion}` added, e.g. `${command}`");
}
