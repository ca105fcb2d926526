# Curated per-package fixes, applied after the generated overrides (and before the user's
# `_` and `overridesPost`). Each fix is a function of the lock entry and the package, and
# says when it applies (by provider and version), so a fix never leaks onto a version it
# was not written for.
#
#   fixes.<normalised name> = [ { when = entry: bool; apply = entry: pkg: pkg'; } … ];
{ util, surface }:
let
  fixes = {
    # Wheels that load libstdc++ lazily through ctypes/dlopen are not seen by autoPatchelf's
    # NEEDED scan; greenlet links it directly, so nothing is needed there. Entries go here.
  };
  applyFixes = entry: pkg:
    builtins.foldl' (p: fix: if fix.when entry then fix.apply entry p else p) pkg (fixes.${entry.name} or [ ]);
in
/* The curated fixes for the packages of a lock, as an extension.

   Type: curated :: Lock -> Extension */
lock: self: super: builtins.listToAttrs (map
  (name: { inherit name; value = applyFixes lock.packages.${name} super.${name}; })
  (builtins.filter (name: fixes ? ${name} && super ? ${name}) (builtins.attrNames lock.packages)))
