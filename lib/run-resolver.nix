# Import-from-derivation helper: run one command of `mach_nix.nix_builder` at evaluation time,
# with the resolver's sources (resolver/) on PYTHONPATH and an interpreter that has its
# dependencies, and read back the JSON the command writes to $out.
# Only resolver/ is copied to the store, so edits elsewhere do not invalidate results.
{ util, surface }:
/*
  Type: runResolver :: { name, resolverPython, command, args, env } -> JSON value
*/
{ name               # name of the output file
, resolverPython     # an interpreter with resolvelib, packaging, distlib
, command            # a command of resolver/mach_nix/nix_builder.py: "lock", "names", "db-names"
, args               # its arguments (strings; paths are copied to the store)
, env ? { }          # more environment variables of the builder
}:
let
  source = builtins.path {
    name = "mach-nix-resolver";
    path = ../resolver;
    filter = path: type:
      !(builtins.elem (baseNameOf path) [ "__pycache__" ".pytest_cache" ]) && !(util.hasSuffix ".egg-info" path);
  };
  output = derivation (env // {
    inherit name;
    system = surface.system;
    builder = "${resolverPython}/bin/${resolverPython.executable or "python3"}";
    # The interpreter finds its environment from PATH (a builder's argv[0] is a bare name).
    PATH = "${resolverPython}/bin";
    PYTHONPATH = source;
    PYTHONDONTWRITEBYTECODE = "1";
    args = [ "-m" "mach_nix.nix_builder" command ] ++ args;
  });
in
builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile output))
