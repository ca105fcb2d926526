# Native (compiled) wheels: which nixpkgs libraries a wheel gets, and the check that names a
# missing one.
#
# nixpkgs' glibc finds a shared library only on the RUNPATH that autoPatchelf writes from
# the package's inputs, never in /usr/lib, so every native wheel must be given, as build
# inputs, the packages that provide the sonames its ELF files need (those it does not
# vendor in `<name>.libs/`). This file is the one place that maps sonames to nixpkgs
# packages: a soname table of the real world goes into `providers`.
{ util, surface }:
rec {
  /*
    Soname -> the key of the nixpkgs library in `surface.nativeLibraries` providing it.

    Type: providers :: AttrSet String
  */
  providers = {
    "libstdc++.so.6" = "cc";
    "libgcc_s.so.1" = "cc";
    "libgomp.so.1" = "cc";
    "libatomic.so.1" = "cc";
    "libquadmath.so.0" = "cc";
    "libz.so.1" = "zlib";
  };

  /*
    What a wheel gets when its lock entry does not say which sonames it needs: the C++
    runtime and zlib, the libraries manylinux lets wheels take from the system.

    Type: defaults :: [String]
  */
  defaults = [ "cc" "zlib" ];

  /*
    The libraries (derivations) for a native wheel's lock entry: by need when the entry's
    artifact lists the sonames its ELF files need (`artifact.needed`), else the defaults.
    Sonames without a provider here are left to the build-time check (`check`), which
    fails with the soname and the fix.

    Type: librariesFor :: LockEntry -> [Derivation]
  */
  librariesFor = entry:
    let
      needed = entry.artifact.needed or null;
      keys = if needed == null then defaults
        else util.unique (builtins.concatMap (so: util.optionals (providers ? ${so}) [ providers.${so} ]) needed);
    in
    map (key: surface.nativeLibraries.${key}) keys;

  /*
    A shell snippet for `preFixup` (before autoPatchelf, which runs in postFixup): fail when
    an ELF file of the installed wheel needs a soname that neither the wheel itself nor the
    `lib/` of an input provides, naming the soname, the file, the package and the fix. Sonames
    matching `autoPatchelfIgnoreMissingDeps` are skipped, as autoPatchelf does.

    Type: check :: LockEntry -> String
  */
  check = entry: ''
    machNixCheckNeeded() {
      local -a dirs=() missing=()
      local seen=" " dep f so pattern ignored found
      machNixAddLibs() {
        case "$seen" in *" $1 "*) return 0 ;; esac
        seen+="$1 "
        if [ -d "$1/lib" ]; then dirs+=("$1/lib"); fi
        if [ -f "$1/nix-support/propagated-build-inputs" ]; then
          for dep in $(< "$1/nix-support/propagated-build-inputs"); do machNixAddLibs "$dep"; done
        fi
      }
      for dep in ''${buildInputs-} ''${propagatedBuildInputs-} ''${runtimeDependencies-}; do machNixAddLibs "$dep"; done
      while IFS= read -r f; do dirs+=("$(dirname "$f")"); done < <(find "$out" -type f -name '*.so*')
      while IFS= read -r -d "" f; do
        [ "$(head -c 4 "$f" | tr -d '\000' | tail -c 3)" = ELF ] || continue
        for so in $(${surface.patchelf}/bin/patchelf --print-needed "$f" 2>/dev/null); do
          case " ${builtins.concatStringsSep " " glibc} " in *" $so "*) continue ;; esac
          ignored=""
          for pattern in ''${autoPatchelfIgnoreMissingDeps-}; do
            # shellcheck disable=SC2254
            case "$so" in $pattern) ignored=1 ;; esac
          done
          [ -z "$ignored" ] || continue
          found=""
          for dep in "''${dirs[@]}"; do if [ -e "$dep/$so" ]; then found=1; break; fi; done
          [ -n "$found" ] || missing+=("$so (needed by ''${f#"$out"/})")
        done
      done < <(find "$out" -type f -print0)
      if [ "''${#missing[@]}" -gt 0 ]; then
        {
          echo "mach-nix: ${entry.name} ${entry.version} (${entry.artifact.filename}) needs shared libraries" \
            "that none of its inputs provides:"
          printf '  %s\n' "''${missing[@]}"
          echo "nixpkgs' loader finds libraries only through the RUNPATH autoPatchelf writes from the inputs."
          echo "Add the package that provides each one, e.g. in mkPython:"
          echo "  _.${entry.name}.buildInputs.add = [ pkgs.<library> ];"
          echo "(mach-nix maps known sonames to nixpkgs packages in lib/native.nix). For a library that comes"
          echo "from the system at run time (e.g. the GPU driver's libcuda.so.1):"
          echo "  _.${entry.name}.autoPatchelfIgnoreMissingDeps.add = [ \"<soname>\" ];"
        } >&2
        exit 1
      fi
    }
    machNixCheckNeeded
  '';

  /*
    Sonames of glibc, which the toolchain provides (libcrypt is libxcrypt's in nixpkgs).

    Type: glibc :: [String]
  */
  glibc = [
    "libc.so.6" "libm.so.6" "libdl.so.2" "librt.so.1" "libpthread.so.0" "libutil.so.1" "libresolv.so.2"
    "libnsl.so.1" "libanl.so.1" "libmvec.so.1" "libthread_db.so.1" "libBrokenLocale.so.1"
    "ld-linux-x86-64.so.2" "ld-linux-aarch64.so.1"
  ];
}
