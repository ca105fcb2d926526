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
  runLock = extraArgs: import ./run-resolver.nix { inherit util surface; } {
    name = "mach-nix-lock.json";
    inherit resolverPython;
    script = ./resolve-builder.py;
    args = [ "lock"
      "-r" requirementsFile
      "--python" python.version
      "--system" surface.system
      "--nixpkgs-inventory" inventoryFile
      "--offline"
    ] ++ providerArgs
      ++ builtins.concatMap (db: [ "--db" "${db}" ]) pypiData
      ++ util.optionals (pyproject != null) ([ "--pyproject" "${pyproject}" ] ++ builtins.concatMap (e: [ "--extra" e ]) extras)
      ++ extraArgs;
  };
  first = runLock [ ];
  # A graph-only database (docs/db-format.md §1) names the file-index shards the lock needs:
  # fetch them (fixed-output, hashes from its manifest), put them in a directory named by
  # hash, and resolve again with that cache.
  fetchedShards = map (source: {
    inherit (source) sha256;
    file = surface.fetchurl {
      inherit (source) url sha256;
      name = "mach-nix-db-" + builtins.replaceStrings [ "/" ] [ "-" ] source.file;
    };
  }) first.fetch;
  filesCache = surface.runCommand "mach-nix-db-files-cache" { } (
    "mkdir $out\n" + builtins.concatStringsSep "" (map (shard: "ln -s ${shard.file} $out/${shard.sha256}\n") fetchedShards)
  );
in
# The lock, or { error = "<the resolver's message>"; } (mkPython decides what to do with it).
if first ? fetch then runLock [ "--files-cache" "${filesCache}" ] else first
