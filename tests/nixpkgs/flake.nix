{
  description = "mach-nix's test double of nixpkgs (the host CPython, real PyPI artifacts)";

  outputs = { self }:
    let
      host = builtins.fromJSON (builtins.readFile ./host.json);
      pkgs = import ./. { inherit host; };
    in
    {
      lib = pkgs.lib;
      legacyPackages.${host.system} = pkgs;
    };
}
