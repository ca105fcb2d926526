# Unit tests of lib/providers.nix.
let
  util = import ../../lib/util.nix;
  parse = import ../../lib/providers.nix { inherit util; };
  fails = x: !(builtins.tryEval (builtins.deepSeq x x)).success;
in
{
  stringIsDefault = { expr = parse "wheel, nixpkgs"; expected = { _default = [ "wheel" "nixpkgs" ]; }; };
  namesNormalised = {
    expr = parse { _default = "sdist"; "Zope.Interface" = [ "wheel" ]; };
    expected = { _default = [ "sdist" ]; zope-interface = [ "wheel" ]; };
  };
  unknownProvider = { expr = fails (parse { numba = "conda"; }); expected = true; };
  emptyOrder = { expr = fails (parse { numba = ""; }); expected = true; };
}
