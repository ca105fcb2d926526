# A package set of real-world size for the double, as an overlay:
#   import ./tests/nixpkgs { overlays = [ (import ./tests/nixpkgs/scale.nix { }) ]; }
# adds `count` synthetic recipes (and count/20 aliases of them, as nixpkgs' python-aliases.nix
# has) to every interpreter's set through pythonPackagesExtensions: nixpkgs' python3.pkgs
# has ~9,000 attributes (docs/nixpkgs-contract.md §7). Each is a buildPythonPackage wheel
# recipe with two dependencies; none is ever built (their sources do not exist).
#
# `tripwire = true` makes every synthetic attribute `abort` when its value is forced
# (`tryEval` cannot catch it): an evaluation that enumerates the whole set fails.
{ count ? 9000, tripwire ? false }:
final: prev: {
  pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
    (self: super:
      let
        nameOf = i: "synthetic-${toString i}";
        recipe = i:
          let
            pname = nameOf i;
            version = "1.${toString (i / 100)}.${toString (i - 100 * (i / 100))}";
          in
          self.buildPythonPackage {
            inherit pname version;
            format = "wheel";
            src = final.fetchurl {
              url = "https://example.invalid/${pname}-${version}-py3-none-any.whl";
              sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
            };
            dependencies = map (j: self.${nameOf j}) (builtins.filter (j: j >= 0) [ (i - 1) (i / 2 - 1) ]);
            pythonImportsCheck = [ pname ];
          };
        value = i: if tripwire then abort "scale.nix: ${nameOf i} was forced: the whole package set was enumerated"
          else recipe i;
      in
      builtins.listToAttrs (builtins.genList (i: { name = nameOf i; value = value i; }) count
        ++ builtins.genList (i: { name = "synthetic_alias_${toString i}"; value = self.${nameOf (i * 20)}; })
          (count / 20)))
  ];
}
