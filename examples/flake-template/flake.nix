{
  description = "A Python environment built by mach-nix from requirements.txt";

  # mach-nix's repository (README "Outside the checkout": the one placeholder until it is published).
  inputs.mach-nix.url = "github:mach-nix/mach-nix";

  outputs = { self, mach-nix }:
    let
      # Every system mach-nix's nixpkgs has: { <system> = f system mach-nix.lib.<system>; }.
      forAllSystems = f: builtins.mapAttrs f mach-nix.lib;
    in
    {
      # `nix build`: the environment (result/bin/python).
      packages = forAllSystems (system: machNix: {
        default = machNix.mkPython {
          requirements = builtins.readFile ./requirements.txt;
          # Pure evaluation without import-from-derivation: run
          # `nix run mach-nix -- lock -r requirements.txt` and use the lock instead:
          # lock = ./mach-nix.lock.json;
        };
      });

      # `nix develop`: a shell with the environment. With a pyproject.toml here and
      # `editable = [ ./. ];`, the project is imported from this directory (run `nix develop`
      # in it) and `pip install` works, into .mach-nix-venv.
      devShells = forAllSystems (system: machNix: {
        default = machNix.mkPythonShell {
          requirements = builtins.readFile ./requirements.txt;
          # editable = [ ./. ];
        };
      });
    };
}
