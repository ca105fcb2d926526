# Files two wheels of one environment both install. A package that installs a script one of
# its dependencies also installs (tensorflow's and tensorboard's `bin/tensorboard`: both
# declare the console script) would make the environment's buildEnv fail on the collision.
# The policy: the dependency's file is kept and the dependant's copy removed, with a note in
# the build log. The dependency owns the module the script runs; the dependant only re-exports
# it. Files of packages that do not depend on each other still collide in buildEnv, naming both.
{ }:
{
  /*
    A shell snippet (for `preFixup`, after the install and before scripts are wrapped):
    remove every file of `$out/bin` that a Python dependency (transitively, through
    `nix-support/propagated-build-inputs`) installs under the same name.

    Type: dropFilesOfDependencies :: LockEntry -> String
  */
  dropFilesOfDependencies = entry: ''
    machNixDropDuplicates() {
      [ -d "$out/bin" ] || return 0
      local -a deps=()
      local seen=" " dep f
      machNixWalk() {
        case "$seen" in *" $1 "*) return 0 ;; esac
        seen+="$1 "
        deps+=("$1")
        if [ -f "$1/nix-support/propagated-build-inputs" ]; then
          for dep in $(< "$1/nix-support/propagated-build-inputs"); do machNixWalk "$dep"; done
        fi
      }
      for dep in ''${propagatedBuildInputs-}; do machNixWalk "$dep"; done
      for f in "$out"/bin/*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        for dep in "''${deps[@]}"; do
          if [ -e "$dep/bin/''${f##*/}" ]; then
            echo "mach-nix: ${entry.name} installs bin/''${f##*/}, which its dependency $dep installs too:" \
              "keeping the dependency's (docs/native.md, collisions)"
            rm -f "$f"
            break
          fi
        done
      done
      rmdir "$out/bin" 2>/dev/null || true
    }
    machNixDropDuplicates
  '';
}
