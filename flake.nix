{
  # (A flake's description must be a string literal.)
  description = "mach-nix: Python requirements to reproducible Nix environments, resolved offline from PyPI metadata";

  # No flake.lock yet: making one needs GitHub, which the machines this was written on cannot
  # reach; the first `nix flake lock` with network writes it (commit it). Until then, and in
  # the tests, the flake works with `--override-input nixpkgs path:…` (tests/nixpkgs/flake.nix).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      # Only the systems the given nixpkgs has (the test double has just the host's).
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; })
        (builtins.filter (system: nixpkgs.legacyPackages ? ${system}) systems));
      pkgsFor = system: nixpkgs.legacyPackages.${system};
      # The database the library and the CLI use by default: the release ./pypi-data.json pins
      # (`mach-nix db pin`), else the bundled snapshot.
      pypiDataFor = system: (import ./lib/pypi-data.nix { surface = import ./lib/nixpkgs.nix (pkgsFor system); }).pinned
        ./pypi-data.json ./tests/data/pypi-db;
      machNixFor = system: import ./lib { pkgs = pkgsFor system; pypiData = pypiDataFor system; };

      # The CLI, built with the nixpkgs interpreter from this repository's sources. It knows
      # its Nix library (the package data mach_nix/nix/: `mach-nix env` and `gen` pin it) and
      # its database ($MACH_NIX_DB defaults to the flake's; --db and a set MACH_NIX_DB win).
      cliFor = system:
        let
          pkgs = pkgsFor system;
          python = pkgs.python3;
        in
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
                [ "pyproject.toml" "README.md" "resolver" "lib" "overrides" "default.nix" "VERSION" ];
          };
          build-system = [ python.pkgs.setuptools ];
          dependencies = [ python.pkgs.resolvelib python.pkgs.packaging python.pkgs.distlib ];
          pythonImportsCheck = [ "mach_nix" ];
          postFixup = ''
            mv $out/bin/mach-nix $out/bin/.mach-nix-unwrapped
            cat > $out/bin/mach-nix <<EOF
            #!${pkgs.stdenv.shell}
            export MACH_NIX_DB="\''${MACH_NIX_DB-${pypiDataFor system}}"
            exec $out/bin/.mach-nix-unwrapped "\$@"
            EOF
            chmod +x $out/bin/mach-nix
          '';
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

      # `nix flake init -t mach-nix`; examples/flake.nix has the same template in a flake
      # without inputs, for `nix flake init -t path:…/examples` without network.
      templates = ((import ./examples/flake.nix).outputs { self = null; }).templates;
    };
}
