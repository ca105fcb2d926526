# Unit tests of lib/native.nix and of the nixpkgs attributes its table reaches (lib/nixpkgs.nix).
let
  util = import ../../lib/util.nix;
  surface = {
    nativeLibraries = builtins.listToAttrs (map (key: { name = key; value = "${key}-lib"; })
      (util.unique (builtins.attrValues (import ../../lib/native.nix { inherit util; surface = { }; }).providers)));
    patchelf = "patchelf";
    driverLink = "/run/opengl-driver";
  };
  native = import ../../lib/native.nix { inherit util surface; };
  entry = artifact: {
    name = "x"; version = "1"; artifact = { filename = "x-1-cp311-cp311-linux_x86_64.whl"; } // artifact;
  };

  # Every entry of the table, by a real soname of it: soname -> the nixpkgs library key.
  table = {
    "libstdc++.so.6" = "cc"; "libgcc_s.so.1" = "cc"; "libgomp.so.1" = "cc"; "libatomic.so.1" = "cc";
    "libquadmath.so.0" = "gfortran"; "libgfortran.so.5" = "gfortran";
    "libz.so.1" = "zlib"; "libbz2.so.1.0" = "bzip2"; "liblzma.so.5" = "xz"; "libzstd.so.1" = "zstd";
    "liblz4.so.1" = "lz4";
    "libGL.so.1" = "libGL"; "libEGL.so.1" = "libGL"; "libGLX.so.0" = "libGL"; "libOpenGL.so.0" = "libGL";
    "libGLESv2.so.2" = "libGL"; "libGLU.so.1" = "libGLU";
    "libglib-2.0.so.0" = "glib"; "libgthread-2.0.so.0" = "glib"; "libgobject-2.0.so.0" = "glib";
    "libgio-2.0.so.0" = "glib"; "libgmodule-2.0.so.0" = "glib";
    "libX11.so.6" = "libX11"; "libX11-xcb.so.1" = "libX11"; "libXext.so.6" = "libXext";
    "libXrender.so.1" = "libXrender"; "libSM.so.6" = "libSM"; "libICE.so.6" = "libICE"; "libxcb.so.1" = "libxcb";
    "libXau.so.6" = "libXau"; "libXdmcp.so.6" = "libXdmcp"; "libXfixes.so.3" = "libXfixes"; "libXi.so.6" = "libXi";
    "libXrandr.so.2" = "libXrandr"; "libXcursor.so.1" = "libXcursor"; "libXinerama.so.1" = "libXinerama";
    "libXcomposite.so.1" = "libXcomposite"; "libXdamage.so.1" = "libXdamage"; "libXtst.so.6" = "libXtst";
    "libxkbcommon.so.0" = "libxkbcommon"; "libxkbcommon-x11.so.0" = "libxkbcommon";
    "libssl.so.3" = "openssl"; "libcrypto.so.3" = "openssl"; "libpq.so.5" = "libpq"; "libffi.so.8" = "libffi";
    "libsqlite3.so.0" = "sqlite"; "libcrypt.so.2" = "libxcrypt"; "libdbus-1.so.3" = "dbus"; "libuuid.so.1" = "libuuid";
    "libexpat.so.1" = "expat"; "libcurl.so.4" = "curl"; "libgssapi_krb5.so.2" = "krb5"; "libkrb5.so.3" = "krb5";
    "libxml2.so.2" = "libxml2"; "libxslt.so.1" = "libxslt"; "libexslt.so.0" = "libxslt"; "libjpeg.so.8" = "libjpeg";
    "libturbojpeg.so.0" = "libjpeg"; "libpng16.so.16" = "libpng"; "libtiff.so.6" = "libtiff";
    "libfreetype.so.6" = "freetype"; "libfontconfig.so.1" = "fontconfig"; "libcairo.so.2" = "cairo";
    "libgeos_c.so.1" = "geos"; "libgeos.so.3.13.1" = "geos"; "libproj.so.25" = "proj"; "libgdal.so.36" = "gdal";
    "libhdf5.so.310" = "hdf5"; "libhdf5_hl.so.310" = "hdf5"; "libnetcdf.so.22" = "netcdf";
    "libopenblas.so.0" = "openblas"; "libgmp.so.10" = "gmp"; "libmpfr.so.6" = "mpfr"; "libnuma.so.1" = "numactl";
    "libncursesw.so.6" = "ncurses"; "libtinfo.so.6" = "ncurses"; "libreadline.so.8" = "readline";
  };

  # A package set shaped like nixpkgs where it matters: multi-output packages whose first
  # output is not the one with lib/ (glib, openssl: `bin`; fontconfig, libuuid: `lib`), the
  # X11 libraries in `xorg` (older) or at the top level in lower case (newest), gfortran's
  # runtime in `gfortran.cc.lib`, libpq on its own (newest) or in postgresql.lib.
  output = name: outputs: builtins.listToAttrs (map (o: { name = o; value = "${name}.${o}"; }) outputs)
    // { outPath = "${name}.${builtins.head outputs}"; };
  plain = name: output name [ "out" ];
  libsOf = names: builtins.listToAttrs (map (name: { inherit name; value = plain name; }) names);
  fakePkgs = { newest }: libsOf [
    "zlib" "bzip2" "xz" "zstd" "lz4" "libGL" "libGLU" "libxkbcommon" "libffi" "sqlite" "libxcrypt" "dbus"
    "expat" "curl" "krb5" "libxml2" "libxslt" "libjpeg" "libpng" "libtiff" "freetype" "cairo" "geos" "proj" "gdal"
    "hdf5" "netcdf" "openblas" "gmp" "mpfr" "numactl" "ncurses" "readline"
  ] // {
    stdenv.cc.cc = { lib = "gcc.lib"; };
    gfortran.cc = { lib = "gfortran.lib"; out = "gfortran.out"; };
    glib = output "glib" [ "bin" "out" "dev" ];
    openssl = output "openssl" [ "bin" "dev" "out" ];
    fontconfig = output "fontconfig" [ "bin" "dev" "lib" "out" ];
    libuuid = output "libuuid" [ "bin" "dev" "out" "lib" ];
    postgresql = output "postgresql" [ "out" "lib" ];
    lib.toLower = s: builtins.replaceStrings [ "X" "S" "I" "M" "C" "E" ] [ "x" "s" "i" "m" "c" "e" ] s;
    xorg = libsOf [ "libX11" "libXext" "libXrender" "libSM" "libICE" "libxcb" "libXau" "libXdmcp" "libXfixes" "libXi"
      "libXrandr" "libXcursor" "libXinerama" "libXcomposite" "libXdamage" "libXtst" ];
    addOpenGLRunpath.driverLink = "/run/opengl-driver";
  } // (if newest then libsOf [ "libx11" "libxext" "libpq" ] // { addDriverRunpath.driverLink = "/run/opengl-driver"; }
       else { });
  real = args: import ../../lib/nixpkgs.nix (fakePkgs args);
  expectedAttr = {
    cc = "gcc.lib"; gfortran = "gfortran.lib"; glib = "glib.out"; openssl = "openssl.out";
    fontconfig = "fontconfig.lib"; libuuid = "libuuid.lib"; libX11 = "libX11.out"; libpq = "postgresql.lib";
  };
in
{
  defaults = { expr = native.librariesFor (entry { }); expected = [ "cc-lib" "zlib-lib" ]; };
  # A lock entry listing its sonames gets what they need; glibc's and the driver's need nothing,
  # unknown ones are left to the check.
  byNeed = {
    expr = native.librariesFor (entry {
      needed = [ "libc.so.6" "libcuda.so.1" "libgomp.so.1" "libstdc++.so.6" "libGL.so.1" "libfoo.so.3" ];
    });
    expected = [ "cc-lib" "libGL-lib" ];
  };
  nothingNeeded = { expr = native.librariesFor (entry { needed = [ ]; }); expected = [ ]; };

  # Each entry of the table, by a real soname.
  everyEntry = {
    expr = builtins.mapAttrs (so: _: native.sourceOf so) table;
    expected = table;
  };
  tableIsExercised = {
    expr = builtins.sort builtins.lessThan (util.unique (map native.stem (builtins.attrNames table)));
    expected = builtins.sort builtins.lessThan (builtins.attrNames native.providers);
  };
  versionsOfOneLibraryShareAnEntry = {
    expr = map native.sourceOf [ "libproj.so.22" "libproj.so.25" "libgdal.so.32" "libxml2.so.16" "libpq.so" ];
    expected = [ "proj" "proj" "gdal" "libxml2" "libpq" ];
  };
  glibcAndDrivers = {
    expr = map native.sourceOf
      [ "libc.so.6" "libpthread.so.0" "ld-linux-x86-64.so.2" "libcuda.so.1" "libnvidia-ml.so.1" ];
    expected = [ "glibc" "glibc" "glibc" "driver" "driver" ];
  };
  unknownSoname = { expr = native.sourceOf "libcudart.so.12"; expected = null; };

  # Drivers: ignored by autoPatchelf and found at run time in the driver directory.
  driverArgs = {
    expr = let a = native.wheelArgs { entry = entry { needed = [ "libcuda.so.1" "libz.so.1" ]; }; old = { };
      searchPaths = [ ]; }; in { inherit (a) autoPatchelfIgnoreMissingDeps appendRunpaths buildInputs; };
    expected = {
      autoPatchelfIgnoreMissingDeps = [ "libcuda.so.1" ];
      appendRunpaths = [ "/run/opengl-driver/lib" ];
      buildInputs = [ "zlib-lib" ];
    };
  };
  noDriverNoRunpath = {
    expr = native.wheelArgs { entry = entry { needed = [ "libz.so.1" ]; }; old = { buildInputs = [ "own" ]; };
      searchPaths = [ ]; } ? appendRunpaths;
    expected = false;
  };
  # Unknown needs: every driver soname is ignored (a CUDA wheel locked at evaluation time).
  unknownNeedsIgnoreDrivers = {
    expr = (native.wheelArgs { entry = entry { }; old = { }; searchPaths = [ ]; }).autoPatchelfIgnoreMissingDeps;
    expected = native.drivers;
  };
  searchPathsAreAddedBeforeTheCheck = {
    expr = builtins.match "addAutoPatchelfSearchPath /a/site /b/site\n.*machNixCheckNeeded.*"
      (native.wheelArgs { entry = entry { needed = [ ]; }; old = { }; searchPaths = [ "/a/site" "/b/site" ]; }).preFixup
      != null;
    expected = true;
  };
  checkNamesPackage = {
    expr = builtins.match ".*mach-nix: x 1 \\(x-1-cp311-cp311-linux_x86_64.whl\\).*_\\.x\\.buildInputs\\.add.*"
      (native.check { entry = entry { }; }) != null;
    expected = true;
  };

  # The nixpkgs attributes behind the keys (lib/nixpkgs.nix), in an older and the newest layout.
  surfaceOlder = {
    expr = builtins.mapAttrs (key: _: toString (real { newest = false; }).nativeLibraries.${key}) expectedAttr;
    expected = expectedAttr;
  };
  surfaceNewest = {
    expr = let l = (real { newest = true; }).nativeLibraries; in
      map toString [ l.libX11 l.libXext l.libXrender l.libpq ];
    expected = [ "libx11.out" "libxext.out" "libXrender.out" "libpq.out" ];
  };
  surfaceEveryKey = {
    expr = builtins.all (key: builtins.isString (toString (real { newest = true; }).nativeLibraries.${key}))
      (util.unique (builtins.attrValues native.providers));
    expected = true;
  };
  driverLink = { expr = [ (real { newest = false; }).driverLink (real { newest = true; }).driverLink ];
    expected = [ "/run/opengl-driver" "/run/opengl-driver" ]; };
}
