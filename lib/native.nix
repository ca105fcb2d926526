# Native (compiled) wheels: which nixpkgs libraries a wheel gets, where autoPatchelf looks for
# the libraries other wheels of the environment ship, driver libraries, and the check that
# names a missing library.
#
# nixpkgs' glibc finds a shared library only on the RUNPATH that autoPatchelf writes from
# the package's inputs, never in /usr/lib, so every native wheel must be given, as build
# inputs, the packages that provide the sonames its ELF files need. The lock says which
# (`artifact.needed`, read from the wheel by `mach-nix lock`; `artifact.needed_from`, the
# packages whose wheels ship some of them, e.g. torch's nvidia-* wheels). This file is the one
# place that maps sonames to nixpkgs packages (`providers`, keys of
# `surface.nativeLibraries`); a soname it does not know fails the build in `check`, naming it,
# the package and the `_` argument that adds the library.
{ util, surface }:
rec {
  /*
    Soname stem (the soname up to and including `.so`, so that every version of a library
    matches: `libproj.so.25` and `libproj.so.26` are `libproj.so`) -> the key of the nixpkgs
    library in `surface.nativeLibraries` that provides it. A version nixpkgs does not have
    (an old `libssl.so.1.1`) is caught by `check` at build time.

    Type: providers :: AttrSet String
  */
  providers = {
    # GCC's runtime (stdenv.cc.cc.lib)
    "libstdc++.so" = "cc";
    "libgcc_s.so" = "cc";
    "libgomp.so" = "cc";
    "libatomic.so" = "cc";
    "libquadmath.so" = "gfortran";  # built with GCC's Fortran runtime: gfortran.cc.lib always has it
    "libgfortran.so" = "gfortran";
    # compression
    "libz.so" = "zlib";
    "libbz2.so" = "bzip2";
    "liblzma.so" = "xz";
    "libzstd.so" = "zstd";
    "liblz4.so" = "lz4";
    # OpenGL (libglvnd) and GLib
    "libGL.so" = "libGL";
    "libEGL.so" = "libGL";
    "libGLX.so" = "libGL";
    "libOpenGL.so" = "libGL";
    "libGLESv2.so" = "libGL";
    "libGLU.so" = "libGLU";
    "libglib-2.0.so" = "glib";
    "libgthread-2.0.so" = "glib";
    "libgobject-2.0.so" = "glib";
    "libgio-2.0.so" = "glib";
    "libgmodule-2.0.so" = "glib";
    # X11
    "libX11.so" = "libX11";
    "libX11-xcb.so" = "libX11";
    "libXext.so" = "libXext";
    "libXrender.so" = "libXrender";
    "libSM.so" = "libSM";
    "libICE.so" = "libICE";
    "libxcb.so" = "libxcb";
    "libXau.so" = "libXau";
    "libXdmcp.so" = "libXdmcp";
    "libXfixes.so" = "libXfixes";
    "libXi.so" = "libXi";
    "libXrandr.so" = "libXrandr";
    "libXcursor.so" = "libXcursor";
    "libXinerama.so" = "libXinerama";
    "libXcomposite.so" = "libXcomposite";
    "libXdamage.so" = "libXdamage";
    "libXtst.so" = "libXtst";
    "libxkbcommon.so" = "libxkbcommon";
    "libxkbcommon-x11.so" = "libxkbcommon";
    # crypto, databases, IPC
    "libssl.so" = "openssl";
    "libcrypto.so" = "openssl";
    "libpq.so" = "libpq";
    "libffi.so" = "libffi";
    "libsqlite3.so" = "sqlite";
    "libcrypt.so" = "libxcrypt";
    "libdbus-1.so" = "dbus";
    "libuuid.so" = "libuuid";
    "libexpat.so" = "expat";
    "libcurl.so" = "curl";
    "libgssapi_krb5.so" = "krb5";
    "libkrb5.so" = "krb5";
    # text, images, fonts
    "libxml2.so" = "libxml2";
    "libxslt.so" = "libxslt";
    "libexslt.so" = "libxslt";
    "libjpeg.so" = "libjpeg";
    "libturbojpeg.so" = "libjpeg";
    "libpng16.so" = "libpng";
    "libtiff.so" = "libtiff";
    "libfreetype.so" = "freetype";
    "libfontconfig.so" = "fontconfig";
    "libcairo.so" = "cairo";
    # science and geodata
    "libgeos_c.so" = "geos";
    "libgeos.so" = "geos";
    "libproj.so" = "proj";
    "libgdal.so" = "gdal";
    "libhdf5.so" = "hdf5";
    "libhdf5_hl.so" = "hdf5";
    "libnetcdf.so" = "netcdf";
    "libopenblas.so" = "openblas";
    "libgmp.so" = "gmp";
    "libmpfr.so" = "mpfr";
    "libnuma.so" = "numactl";
    # terminals
    "libncursesw.so" = "ncurses";
    "libtinfo.so" = "ncurses";
    "libreadline.so" = "readline";
  };

  /*
    Sonames of the GPU driver: they come from the machine at run time (on NixOS
    `/run/opengl-driver/lib`), as nixpkgs' own CUDA packages take them. A wheel needing one
    gets `autoPatchelfIgnoreMissingDeps` for it and the driver directory on its RUNPATH
    (nixpkgs' `addDriverRunpath.driverLink`), instead of a failed build.

    Type: drivers :: [String]
  */
  drivers = [
    "libcuda.so.1" "libnvidia-ml.so.1" "libnvcuvid.so.1" "libnvidia-encode.so.1" "libnvidia-ptxjitcompiler.so.1"
    "libnvidia-opticalflow.so.1" "libnvidia-fbc.so.1" "libcudadebugger.so.1"
  ];

  /*
    The stem of a soname: `libproj.so.25` -> `libproj.so`, `libfoo.so` -> itself.

    Type: stem :: String -> String
  */
  stem = soname:
    let m = builtins.match "(.*\\.so)(\\..*)?" soname; in if m == null then soname else builtins.head m;

  /*
    Where a needed soname comes from: "glibc" (the toolchain), "driver" (the machine), the key
    of its nixpkgs library, or null (unknown: the build-time check names it).

    Type: sourceOf :: String -> String | Null
  */
  sourceOf = soname:
    if builtins.elem soname glibc then "glibc"
    else if builtins.elem soname drivers then "driver"
    else providers.${stem soname} or null;

  /*
    What a wheel gets when its lock entry does not say which sonames it needs: the C++
    runtime and zlib, the libraries manylinux lets wheels take from the system.

    Type: defaults :: [String]
  */
  defaults = [ "cc" "zlib" ];

  /*
    The sonames a wheel's lock entry says it needs, or null when the lock does not say.

    Type: neededOf :: LockEntry -> [String] | Null
  */
  neededOf = entry: entry.artifact.needed or null;

  /*
    The keys of `surface.nativeLibraries` for a native wheel's lock entry: by need when the
    entry's artifact lists the sonames its ELF files need, else the defaults. Sonames
    without a provider here are left to the build-time check (`check`).

    Type: libraryKeysFor :: LockEntry -> [String]
  */
  libraryKeysFor = entry:
    let needed = neededOf entry; in
    if needed == null then defaults
    else util.unique (builtins.filter (key: key != null && key != "glibc" && key != "driver") (map sourceOf needed));

  /*
    The libraries (derivations) for a native wheel's lock entry (`libraryKeysFor`).

    Type: librariesFor :: LockEntry -> [Derivation]
  */
  librariesFor = entry: map (key: surface.nativeLibraries.${key}) (libraryKeysFor entry);

  /*
    The driver sonames autoPatchelf must not look for: those the entry needs, or all of
    `drivers` when the lock does not say.

    Type: driversFor :: LockEntry -> [String]
  */
  driversFor = entry:
    let needed = neededOf entry; in
    if needed == null then drivers else builtins.filter (so: builtins.elem so drivers) needed;

  /*
    Arguments for a native wheel's derivation: its libraries, the driver sonames ignored and
    the driver directory appended to RUNPATHs, the site-packages of other wheels to search
    (`searchPaths`: store paths of directories; autoPatchelf's `addAutoPatchelfSearchPath`,
    recursive), and the `check` before autoPatchelf runs.

    Type: wheelArgs :: { entry :: LockEntry, old :: AttrSet, searchPaths :: [String] } -> AttrSet
  */
  wheelArgs = { entry, old, searchPaths }:
    let driverSonames = driversFor entry; in
    {
      buildInputs = (old.buildInputs or [ ]) ++ librariesFor entry;
      preFixup = (if searchPaths == [ ] then ""
        else "addAutoPatchelfSearchPath ${builtins.concatStringsSep " " searchPaths}\n")
        + check { inherit entry searchPaths; };
    } // util.optionalAttrs (driverSonames != [ ]) {
      autoPatchelfIgnoreMissingDeps = util.toList (old.autoPatchelfIgnoreMissingDeps or [ ]) ++ driverSonames;
      appendRunpaths = util.toList (old.appendRunpaths or [ ]) ++ [ "${surface.driverLink}/lib" ];
    };

  /*
    A shell snippet for `preFixup` (before autoPatchelf, which runs in postFixup): fail when
    an ELF file of the installed wheel needs a soname that neither the wheel itself, nor the
    `lib/` of an input, nor a directory of `searchPaths` provides, naming the soname, the
    file, the package and the fix. Sonames matching `autoPatchelfIgnoreMissingDeps` are
    skipped, as autoPatchelf does.

    Type: check :: { entry :: LockEntry, searchPaths :: [String] } -> String
  */
  check = { entry, searchPaths ? [ ] }: ''
    machNixCheckNeeded() {
      local -a dirs=() missing=()
      local seen=" " dep f so pattern ignored found magic
      machNixAddLibs() {
        case "$seen" in *" $1 "*) return 0 ;; esac
        seen+="$1 "
        if [ -d "$1/lib" ]; then dirs+=("$1/lib"); fi
        if [ -f "$1/nix-support/propagated-build-inputs" ]; then
          for dep in $(< "$1/nix-support/propagated-build-inputs"); do machNixAddLibs "$dep"; done
        fi
      }
      for dep in ''${buildInputs-} ''${propagatedBuildInputs-} ''${runtimeDependencies-}; do machNixAddLibs "$dep"; done
      while IFS= read -r f; do dirs+=("$(dirname "$f")"); done < <(find "$out" ${
        builtins.concatStringsSep " " searchPaths} -type f -name '*.so*')
      while IFS= read -r -d "" f; do
        # the ELF magic, read by bash itself (a process per file is minutes for tensorflow's 30,000)
        magic=""
        LC_ALL=C IFS= read -r -n 4 -d "" magic < "$f" || true
        [ "$magic" = $'\x7fELF' ] || continue
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
