# The dot interface: gen.python.<name> is an environment with that one package,
# gen.docker.<name> an image with it (`nix run mach-nix#gen.python.requests`).
# The names are the database's, read through one import-from-derivation the first time
# `gen.python` or `gen.docker` is looked into.
{ util, surface, pypiData, resolverPython, builders }:
let
  source = import ./resolver-source.nix { inherit util; };
  namesDrv = derivation {
    name = "mach-nix-db-names.json";
    system = surface.system;
    builder = "${resolverPython}/bin/${resolverPython.executable or "python3"}";
    PATH = "${resolverPython}/bin";
    PYTHONPATH = source;
    PYTHONDONTWRITEBYTECODE = "1";
    args = [ "${./db-names.py}" ] ++ map (db: "${db}") pypiData;
  };
  names = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile namesDrv));
  perName = f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
in
{
  python = perName (name: builders.mkPython { requirements = name; });
  docker = perName (name: builders.mkDockerImage { requirements = name; });
}
