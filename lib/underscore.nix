# The `_` argument: small per-package overrides without writing an overlay.
#   _.requests.postInstall = "…";                 replace an attribute
#   _.requests.buildInputs.add = [ pkgs.zlib ];   append to a list / merge a set / append a string
#   _.requests.pname.mod = old: old + "-x";       compute from the old value
# Applied with overridePythonAttrs (so dependencies and hooks are recomputed), or overrideAttrs
# for derivations that have no overridePythonAttrs.
{ util }:
/* The `_` argument as an extension.

   Type: underscoreOverrides :: AttrSet (AttrSet Any) -> Extension

   Example:
     underscoreOverrides { requests.buildInputs.add = [ pkgs.zlib ]; } */
underscore:
let
  isSpecial = v: builtins.isAttrs v && !(util.isDerivation v) && (v ? add || v ? mod);
  apply = attr: spec: old:
    let oldValue = old.${attr} or null; in
    if !(isSpecial spec) then spec
    else if spec ? mod then spec.mod oldValue
    else if oldValue == null then spec.add
    else if builtins.isList oldValue then oldValue ++ util.toList spec.add
    else if builtins.isAttrs oldValue then oldValue // spec.add
    else if builtins.isString oldValue then oldValue + spec.add
    else throw "mach-nix: `_.<package>.${attr}.add`: cannot add to a value of type ${builtins.typeOf oldValue}";
  overridePackage = pkg: specs:
    let f = old: builtins.mapAttrs (attr: spec: apply attr spec old) specs; in
    if pkg ? overridePythonAttrs then pkg.overridePythonAttrs f else pkg.overrideAttrs f;
  # Specs grouped by normalised name (`_.Requests` and `_.requests` are the same package).
  grouped = builtins.foldl'
    (acc: name:
      let attr = util.normalizeName name;
      in acc // { ${attr} = (acc.${attr} or [ ]) ++ [ underscore.${name} ]; })
    { }
    (builtins.attrNames underscore);
in
self: super: builtins.mapAttrs
  (attr: specsList:
    if super ? ${attr} then builtins.foldl' overridePackage super.${attr} specsList
    else throw "mach-nix: `_.${attr}` overrides a package that is not in the environment or the package set")
  grouped
