# The nixpkgs inventory: what the interpreter's package set offers, as
# [ { attr; pname; version; } … ], for the resolver's `nixpkgs` provider.
# Each attribute is probed inside `tryEval` + `deepSeq`: throwing attributes, aliases that
# are not derivations, disabled and broken packages are skipped, and neither `drvPath` nor
# `outPath` is ever forced (contract doc §4).
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
in
{
  /* Every package of the set (forces every attribute: the expensive part of an evaluation
     against a real nixpkgs, so mkPython uses it only when it has to). */
  all = pythonPackages: builtins.filter (x: x != null) (map (probe pythonPackages) (builtins.attrNames pythonPackages));

  /* Only the given attribute names (those that exist). */
  only = pythonPackages: attrs: builtins.filter (x: x != null)
    (map (probe pythonPackages) (builtins.filter (a: pythonPackages ? ${a}) attrs));
}
