{
  # (A flake's description must be a string literal.)
  description = "mach-nix: Python requirements to reproducible Nix environments, resolved offline from PyPI metadata";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      # Only the systems the given nixpkgs has (the test double has just the host's).
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; })
        (builtins.filter (system: nixpkgs.legacyPackages ? ${system}) systems));
      pkgsFor = system: nixpkgs.legacyPackages.${system};
      # The database: the release ./pypi-data.json pins (`mach-nix db pin`), else the bundled snapshot.
      pinnedFor = system: (import ./lib/pypi-data.nix { surface = import ./lib/nixpkgs.nix (pkgsFor system); }).pinned
        ./pypi-data.json ./tests/data/pypi-db;
      machNixFor = system: import ./lib { pkgs = pkgsFor system; pypiData = pinnedFor system; };

      # The CLI, built with the nixpkgs interpreter from this repository's sources.
      cliFor = system:
        let python = (pkgsFor system).python3; in
        python.pkgs.buildPythonApplication {
          pname = "mach-nix";
          version = builtins.replaceStrings [ "\n" ] [ "" ] (builtins.readFile ./VERSION);
          pyproject = true;
          src = builtins.path {
            name = "mach-nix-source";
            path = ./.;
            filter = path: type:
              let rel = builtins.substring (builtins.stringLength (toString ./.) + 1) (-1) (toString path); in
              builtins.any
                (prefix: rel == prefix || builtins.substring 0 (builtins.stringLength prefix + 1) rel == prefix + "/")
                [ "pyproject.toml" "README.md" "resolver" ];
          };
          build-system = [ python.pkgs.setuptools ];
          dependencies = [ python.pkgs.resolvelib python.pkgs.packaging python.pkgs.distlib ];
          pythonImportsCheck = [ "mach_nix" ];
        };
    in
    {
      /* lib.<system>.{mkPython, mkPythonShell, mkDockerImage, mkOverlay, mkNixpkgs, mkPythonOverrides,
         fetchPypiData} */
      lib = forAllSystems machNixFor;

      packages = forAllSystems (system: rec {
        mach-nix = cliFor system;
        default = mach-nix;
      });

      # `nix run mach-nix#gen.python.requests`, `nix build mach-nix#gen.docker.requests`
      legacyPackages = forAllSystems (system: { gen = (machNixFor system).gen; });

      apps = forAllSystems (system: {
        mach-nix = { type = "app"; program = "${cliFor system}/bin/mach-nix"; };
        default = { type = "app"; program = "${cliFor system}/bin/mach-nix"; };
      });

      # `nix flake check`: the CLI builds (its import check runs).
      checks = forAllSystems (system: { mach-nix = cliFor system; });

      templates.default = {
        path = ./examples/flake-template;
        description = "A Python environment from requirements.txt with mach-nix";
      };
    };
}
