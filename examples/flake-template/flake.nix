{
  description = "A Python environment built by mach-nix from requirements.txt";

  inputs.mach-nix.url = "github:mach-nix/mach-nix";

  outputs = { self, mach-nix }:
    let system = "x86_64-linux"; in
    {
      # `nix build` / `nix develop`
      packages.${system}.default = mach-nix.lib.${system}.mkPython {
        requirements = builtins.readFile ./requirements.txt;
        # Pure evaluation without import-from-derivation: run `mach-nix lock -r requirements.txt`
        # and use the lock instead:
        # lock = ./mach-nix.lock.json;
      };
      devShells.${system}.default = mach-nix.lib.${system}.mkPythonShell {
        requirements = builtins.readFile ./requirements.txt;
      };
    };
}
