# The `providers` argument: which sources a package may come from, in order of preference.
#   providers = { _default = "wheel,sdist,nixpkgs"; numba = [ "wheel" ]; }
# Returns { name = [ provider … ]; } with normalised names, or throws on unknown providers.
# There are no built-in per-package orders: `_default` governs every package not named
# (the original's issue #423).
{ util }:
let
  known = [ "wheel" "sdist" "nixpkgs" ];
  parseOne = key: spec:
    let
      list = if builtins.isList spec then spec
        else if builtins.isString spec then util.splitComma spec
        else throw ("mach-nix: providers.${key} must be a comma-separated string or a list, "
          + "e.g. \"wheel,sdist,nixpkgs\"");
      bad = builtins.filter (p: !(builtins.elem p known)) list;
    in
    if bad != [ ] then
      throw "mach-nix: unknown provider '${builtins.head bad}' in providers.${key}; use some of: wheel, sdist, nixpkgs"
    else if list == [ ] then throw "mach-nix: providers.${key} is empty; give at least one of wheel, sdist, nixpkgs"
    else list;
in
/*
  Normalise the user's `providers` (an attribute set; a string or list means `_default`).

  Type: parseProviders :: (String | [String] | AttrSet (String | [String])) -> AttrSet [String]

  Example:
    parseProviders { _default = "wheel,sdist"; Numba = [ "wheel" ]; }
    => { _default = [ "wheel" "sdist" ]; numba = [ "wheel" ]; }
*/
providers:
let
  set = if builtins.isString providers || builtins.isList providers then { _default = providers; } else providers;
in
builtins.listToAttrs (map
  (key: {
    name = if key == "_default" then key else util.normalizeName key;
    value = parseOne key set.${key};
  })
  (builtins.attrNames set))
