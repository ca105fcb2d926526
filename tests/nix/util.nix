# Unit tests of lib/util.nix: { <case> = { expr; expected; }; } (run by tests/test_nix_unit.py).
let
  util = import ../../lib/util.nix;
  module = attrs: { type = "derivation"; name = "python3.11-${attrs.pname or "x"}-1"; pythonModule = { }; } // attrs;
in
{
  normalizeDots = { expr = util.normalizeName "Zope.Interface"; expected = "zope-interface"; };
  normalizeRuns = { expr = util.normalizeName "ruamel__yaml.-clib"; expected = "ruamel-yaml-clib"; };
  splitCommaTrims = { expr = util.splitComma " wheel , sdist,,nixpkgs "; expected = [ "wheel" "sdist" "nixpkgs" ]; };
  requirementNameMarker = {
    expr = util.requirementName "Setuptools_SCM[toml]>=6; python_version<'3.12'";
    expected = "setuptools-scm";
  };
  requirementNameInvalid = { expr = (builtins.tryEval (util.requirementName ">=1")).success; expected = false; };
  composeOrder = {
    expr = (util.composeExtensions (self: super: { a = 1; b = super.b + 1; }) (self: super: { b = super.b * 10; }))
      { } { b = 1; };
    expected = { a = 1; b = 20; };
  };
  composeManyEmpty = { expr = util.composeManyExtensions [ ] { } { x = 1; }; expected = { }; };
  uniqueKeepsFirst = { expr = util.unique [ 3 1 3 2 1 ]; expected = [ 3 1 2 ]; };
  genAttrs = { expr = util.genAttrs [ "a" "b" ] (n: n + n); expected = { a = "aa"; b = "bb"; }; };
  # nixpkgs propagates the interpreter (a module of itself) and applications have
  # pythonModule = false: neither is a Python package.
  isPythonPackage = {
    expr = map util.isPythonPackage [
      (module { pname = "six"; })
      (module { pname = "python3"; interpreter = "/bin/python"; sitePackages = "lib"; })
      (module { pname = "app"; pythonModule = false; })
      { type = "derivation"; name = "zlib-1"; }
    ];
    expected = [ true false false false ];
  };
  pythonNamePname = { expr = util.pythonName (module { pname = "Zope.Interface"; }); expected = "zope-interface"; };
  pythonNameFromName = {
    expr = util.pythonName { type = "derivation"; name = "python3.12-foo_bar-1.0"; pythonModule = { }; };
    expected = "foo-bar";
  };
}
