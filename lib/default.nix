# The mach-nix Nix library. `import ./lib { pkgs; pypiData; python; }`.
#
# Type: machNixLib :: { pkgs :: Nixpkgs, pypiData :: Path | [Path], python :: String }
#   -> { mkPython, mkPythonShell, mkDockerImage, mkOverlay, mkNixpkgs, mkPythonOverrides,
#        nixpkgsInventory, gen, util, version, fetchPypiData }
{ pkgs, pypiData, python ? "python3" }:
let
  util = import ./util.nix;
  surface = import ./nixpkgs.nix pkgs;
  builders = import ./mkPython.nix {
    inherit util surface;
    defaultPypiData = util.toList pypiData;
    defaultPython = python;
  };
  gen = import ./gen.nix {
    inherit util surface builders;
    pypiData = util.toList pypiData;
    inherit (surface) resolverPython;
  };
in
builders // {
  inherit util gen;
  inherit (import ./pypi-data.nix { inherit surface; }) fetchPypiData;
  version = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile ../VERSION);
}
