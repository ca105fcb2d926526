# Resolution at evaluation time: a derivation runs the resolver (`python -m mach_nix lock`)
# and import-from-derivation reads the lock back. A resolver error comes back as data,
# { error = "<message>"; }, which mkPython turns into a short Nix error.
{ util, surface }:
{ requirements          # requirements.txt text
, pyproject ? null      # path of a pyproject.toml, or null
, extras ? [ ]          # extras of the pyproject to install
, providers             # normalised, see providers.nix
, pypiData              # list of DB directories (layers, later wins)
, python                # the interpreter resolved for (its exact version is used)
, resolverPython        # an interpreter with resolvelib, packaging, distlib
, inventory             # see inventory.nix
}:
let
  requirementsFile = surface.writeText "requirements.txt" requirements;
  inventoryFile = surface.writeText "nixpkgs-inventory.json" (builtins.toJSON inventory);
  providerArgs = map (name: "--provider=${name}=${builtins.concatStringsSep "," providers.${name}}") (builtins.attrNames providers);
in
# The lock, or { error = "<the resolver's message>"; } (mkPython decides what to do with it).
import ./run-resolver.nix { inherit util surface; } {
  name = "mach-nix-lock.json";
  inherit resolverPython;
  script = ./resolve-builder.py;
  args = [ "lock"
    "-r" requirementsFile
    "--python" python.version
    "--system" surface.system
    "--nixpkgs-inventory" inventoryFile
  ] ++ providerArgs
    ++ builtins.concatMap (db: [ "--db" "${db}" ]) pypiData
    ++ util.optionals (pyproject != null) ([ "--pyproject" "${pyproject}" ] ++ builtins.concatMap (e: [ "--extra" e ]) extras);
}
