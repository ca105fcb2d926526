# Unit tests of lib/inventory.nix: a fake package set whose values must not be forced
# unless asked for.
let
  util = import ../../lib/util.nix;
  inventory = import ../../lib/inventory.nix { inherit util; };
  drv = pname: version: extra: { type = "derivation"; inherit pname version; } // extra;
  set = {
    requests = drv "requests" "2.31.0" { };
    pygobject3 = drv "pygobject" "3.48.0" { };
    urllib3_1 = drv "urllib3" "1.26.18" { };
    six-bin = drv "six" "1.16.0" { };
    locket = drv "locket" "0.2.0" { meta.broken = true; };
    first = drv "first" "2.0.1" { meta.problems.unsupportedPython = { }; };
    old = drv "old" "1" { meta.problems.deprecated = { }; };
    throws = throw "not a package";
    untouched = abort "forced a value nobody asked for";
    buildPythonPackage = x: x;
  };
  byName = inventory.index set;
  attrs = names: map (e: e.attr) (inventory.forNames set byName names);
in
{
  indexByVariant = {
    expr = { inherit (byName) pygobject urllib3 six; };
    expected = { pygobject = [ "pygobject3" ]; urllib3 = [ "urllib3_1" ]; six = [ "six-bin" ]; };
  };
  forNamesFindsVariants = {
    expr = attrs [ "requests" "pygobject" "urllib3" "six" "nothing" ];
    expected = [ "requests" "pygobject3" "urllib3_1" "six-bin" ];
  };
  # F9: what check-meta refuses is not offered; warning-level problems are.
  refusedSkipped = { expr = attrs [ "locket" "first" "old" "throws" ]; expected = [ "old" ]; };
  entries = {
    expr = inventory.forNames set byName [ "pygobject" ];
    expected = [ { attr = "pygobject3"; pname = "pygobject"; version = "3.48.0"; } ];
  };
}
