# The dot interface: gen.python.<name> is an environment with that one package,
# gen.docker.<name> an image with it (`nix run mach-nix#gen.python.requests`).
# The names are the database's, read through one import-from-derivation the first time
# `gen.python` or `gen.docker` is looked into.
{ util, surface, pypiData, resolverPython, builders }:
let
  names = import ./run-resolver.nix { inherit util surface; } {
    name = "mach-nix-db-names.json";
    inherit resolverPython;
    command = "db-names";
    args = map (db: "${db}") pypiData;
  };
  perName = f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
in
{
  /* An environment with one package of the database, for every name it has.

     Type: python :: AttrSet Derivation */
  python = perName (name: builders.mkPython { requirements = name; });

  /* A layered docker image with one package of the database, for every name it has.

     Type: docker :: AttrSet Derivation */
  docker = perName (name: builders.mkDockerImage { requirements = name; });
}
