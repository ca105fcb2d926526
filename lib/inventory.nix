# The nixpkgs inventory: what the interpreter's package set offers, as
# [ { attr; pname; version; } … ], for the resolver's `nixpkgs` provider.
#
# Probing an attribute instantiates its recipe, which is what an evaluation against a real
# nixpkgs (~9,000 attributes) pays for, so mach-nix probes only the attributes that may
# hold the projects a resolution can reach: found by name, without forcing any value.
# Each probe runs inside `tryEval` + `deepSeq`: throwing attributes, aliases that are not
# derivations, and packages check-meta refuses are skipped, and neither `drvPath` nor
# `outPath` is ever forced (docs/nixpkgs-contract.md §7).
{ util }:
let
  # What check-meta would refuse: broken, disabled (newest nixpkgs: the problem
  # `unsupportedPython`; before: passthru.disabled), or unavailable for the platform.
  # Warning-level problems (`removal`, `deprecated`, `maintainerless`) do not count.
  refusedProblems = [ "unsupportedPython" "broken" "unsupported" "insecure" ];
  usable = value:
    let meta = value.meta or { }; in
    (meta.available or true) && !(meta.broken or false)
    && !((value.passthru or { }).disabled or false)
    && !(builtins.any (p: (meta.problems or { }) ? ${p}) refusedProblems);

  probe = pythonPackages: attr:
    let
      result = builtins.tryEval (
        let value = pythonPackages.${attr}; in
        if util.isDerivation value && value ? pname && value ? version
           && builtins.isString value.pname && builtins.isString value.version
           && usable value
        then builtins.deepSeq [ value.pname value.version ] { inherit attr; inherit (value) pname version; }
        else null);
    in
    if result.success then result.value else null;

  probeAll = pythonPackages: attrs: builtins.filter (x: x != null) (map (probe pythonPackages) attrs);

  # The names an attribute may stand for: its normalised name, and that name without a
  # variant suffix (`pygobject3`, `django_4`, `torch-bin`), since nixpkgs names variants so.
  keysOf = attr:
    let
      # (Most attributes are normalised already: the fast path skips normalizeName.)
      name = if builtins.match "[a-z0-9]+(-[a-z0-9]+)*" attr != null then attr else util.normalizeName attr;
      variant = builtins.match "(.+)-(bin|[0-9]+)" name;
      numbered = builtins.match "(.+[a-z])[0-9]+" name;
    in
    [ name ] ++ util.optionals (variant != null) [ (builtins.head variant) ]
      ++ util.optionals (numbered != null) [ (builtins.head numbered) ];
in
rec {
  /*
    Every attribute of the set, by the names it may stand for: built from the attribute
    names alone (no value is forced), once per package set.

    Type: index :: AttrSet -> AttrSet [String]
  */
  index = pythonPackages: builtins.mapAttrs (_: pairs: map (p: p.attr) pairs)
    (builtins.groupBy (p: p.key)
      (builtins.concatMap (attr: map (key: { inherit key attr; }) (keysOf attr)) (builtins.attrNames pythonPackages)));

  /*
    The inventory of the attributes that may hold the given (normalised) project names.

    Type: forNames :: AttrSet -> AttrSet [String] -> [String] -> [{ attr, pname, version }]
  */
  forNames = pythonPackages: byName: names:
    probeAll pythonPackages (util.unique (builtins.concatMap (name: byName.${name} or [ ]) names));

  /*
    Every package of the set: forces every attribute (for `nixpkgsInventory`, never for an
    evaluation of mkPython).

    Type: all :: AttrSet -> [{ attr, pname, version }]
  */
  all = pythonPackages: probeAll pythonPackages (builtins.attrNames pythonPackages);
}
