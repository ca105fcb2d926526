# Resolution at evaluation time: a derivation runs the resolver (`mach_nix.nix_builder lock`)
# and import-from-derivation reads the lock back. A resolver error comes back as data,
# { error = "<message>"; names = [ … ]; }, which mkPython turns into a short Nix error (or a
# second resolution with more of nixpkgs).
{ util, surface }:
/*
  Type: resolve :: { requirements, pyproject, extras, groups, providers, pypiData, python, resolverPython, hookEnv }
    -> { withInventory, reachableNames }
*/
{ requirements          # requirements.txt text
, pyproject ? null      # path of a pyproject.toml, or null
, extras ? [ ]          # extras of the pyproject to install
, groups ? [ ]          # PEP 735 dependency groups of the pyproject to install
, providers             # normalised, see providers.nix
, pypiData              # list of DB directories (layers, later wins)
, python                # the interpreter resolved for (its exact version is used)
, resolverPython        # an interpreter with resolvelib, packaging, distlib
, hookEnv ? null        # site-packages of build tools for the PEP 517 hooks of local sources (no pip here)
}:
let
  requirementsFile = surface.writeText "requirements.txt" requirements;
  providerArgs = map (name: "--provider=${name}=${builtins.concatStringsSep "," providers.${name}}")
    (builtins.attrNames providers);
  run = command: args: import ./run-resolver.nix { inherit util surface; } {
    name = "mach-nix-${command}.json";
    inherit resolverPython command args;
    env = util.optionalAttrs (hookEnv != null) { MACH_NIX_HOOK_ENV = hookEnv; };
  };
  inputArgs = [ "-r" requirementsFile
      "--python" python.version
      "--system" surface.system
    ] ++ util.optionals (surface.glibc != null) [ "--glibc" surface.glibc ] ++ [ "--offline" ]
    ++ providerArgs
    ++ builtins.concatMap (db: [ "--db" "${db}" ]) pypiData
    ++ util.optionals (pyproject != null)
      ([ "--pyproject" "${pyproject}" ] ++ builtins.concatMap (e: [ "--extra" e ]) extras
        ++ builtins.concatMap (g: [ "--group" g ]) groups)
    ++ util.optionals (pyproject == null && groups != [ ])
      (throw ("mach-nix: `groups` (PEP 735 dependency groups) are read from a `pyproject`; "
        + "pass pyproject = ./pyproject.toml;"));
  # A graph-only database (docs/db-format.md §1.1) names the file-index shards it lacks:
  # fetch them (fixed-output, hashes from its manifest), put them in a directory named by
  # hash, and resolve again with that cache. A direct reference (`name @ URL#sha256=…`)
  # reads its project's file index during resolution, so a second round may name more
  # shards; every round adds shards, and the lock needs at most three.
  fetchShard = source: {
    inherit (source) sha256;
    file = surface.fetchurl {
      inherit (source) url sha256;
      name = "mach-nix-db-" + builtins.replaceStrings [ "/" ] [ "-" ] source.file;
    };
  };
  cacheOf = shards: surface.runCommand "mach-nix-db-files-cache" { } (
    "mkdir $out\n" + builtins.concatStringsSep "" (map (shard: "ln -s ${shard.file} $out/${shard.sha256}\n") shards)
  );
  rounds = inventoryFile: fetched: round:
    let
      result = run "lock" (inputArgs ++ [ "--nixpkgs-inventory" inventoryFile ]
        ++ util.optionals (fetched != [ ]) [ "--files-cache" "${cacheOf fetched}" ]);
    in
    if !(result ? fetch) then result
    else if round >= 4 then {
      error = "the file-index shards of the database could not be completed "
        + "(fetched ${toString (builtins.length fetched)} shards); is its files_url right?";
    }
    else rounds inventoryFile (fetched ++ map fetchShard result.fetch) (round + 1);
in
{
  /* The lock for a nixpkgs inventory (see inventory.nix), or { error; names; }: the
     resolver's message and the names the resolution could reach.

     Type: withInventory :: [{ attr, pname, version }] -> Lock | { error :: String, names :: [String] } */
  withInventory = inventory: rounds (surface.writeText "nixpkgs-inventory.json" (builtins.toJSON inventory)) [ ] 1;

  /* The (normalised) names a resolution of these requirements could look up in nixpkgs:
     every project reachable in the database (an error of the input gives [ ]; the
     resolution then reports it).

     Type: reachableNames :: [String] */
  reachableNames = let names = run "names" inputArgs; in if builtins.isList names then names else [ ];
}
