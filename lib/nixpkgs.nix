# The whole surface of nixpkgs that mach-nix's Nix code touches, in one place.
# Everything else in lib/ reaches nixpkgs only through the attributes returned here,
# so a nixpkgs change is fixed in this file, and the test double only has to provide these.
#
# Type: surface :: Nixpkgs -> AttrSet (the attributes below)
pkgs:
{
  # Nix system of the packages being built (x86_64-linux, aarch64-darwin, …).
  system = pkgs.stdenv.hostPlatform.system;
  isLinux = pkgs.stdenv.hostPlatform.isLinux;

  # The glibc version ("2.40") binaries of this nixpkgs run with, or null (not Linux/glibc):
  # the newest manylinux wheels it can load.
  glibc =
    let libc = pkgs.stdenv.cc.libc or { }; in
    if pkgs.stdenv.hostPlatform.isLinux && (libc.pname or "") == "glibc" then
      builtins.concatStringsSep "." (builtins.genList (builtins.elemAt (builtins.splitVersion libc.version)) 2)
    else null;

  /* Interpreter by attribute name (`python3`, `python311`, …), or a clear error.

     Type: interpreter :: String -> Derivation */
  interpreter = name:
    if builtins.hasAttr name pkgs then pkgs.${name}
    else throw ("mach-nix: `python = \"${name}\"` is not an interpreter of this nixpkgs "
      + "(try \"python3\" or \"python311\")");

  # The interpreter the resolver itself runs on (evaluation-time builds): nixpkgs' default
  # Python with the resolver's three dependencies, whatever Python the environment targets.
  resolverPython = pkgs.python3.withPackages (ps: [ ps.resolvelib ps.packaging ps.distlib ]);

  # Fixed-output download of a PyPI file.
  fetchurl = pkgs.fetchurl;
  writeText = pkgs.writeText;
  runCommand = pkgs.runCommand;
  mkShell = pkgs.mkShell;
  buildLayeredImage = pkgs.dockerTools.buildLayeredImage;

  # Native wheels: patch ELF files against libraries of nixpkgs (lib/native.nix says which).
  autoPatchelfHook = pkgs.autoPatchelfHook;
  patchelf = pkgs.patchelf;
  # The libraries of lib/native.nix's soname table, by key: the output holding `lib/`
  # (lib.getLib: `lib`, else `out`; glib's and openssl's first output is `bin`). Newest
  # nixpkgs has the X11 libraries at the top level in lower case (`libx11`), older ones in
  # `xorg`. Each is evaluated only when a wheel needs it.
  nativeLibraries =
    let
      lib = drv: drv.lib or drv.out or drv;
      x11 = name: lib (pkgs.${pkgs.lib.toLower name} or pkgs.xorg.${name});
    in
    {
      cc = pkgs.stdenv.cc.cc.lib or pkgs.stdenv.cc.cc;  # libstdc++, libgcc_s, libgomp, libatomic
      gfortran = pkgs.gfortran.cc.lib;  # libgfortran, libquadmath
      zlib = lib pkgs.zlib;
      bzip2 = lib pkgs.bzip2;
      xz = lib pkgs.xz;
      zstd = lib pkgs.zstd;
      lz4 = lib pkgs.lz4;
      libGL = lib pkgs.libGL;
      libGLU = lib pkgs.libGLU;
      glib = lib pkgs.glib;
      libX11 = x11 "libX11";
      libXext = x11 "libXext";
      libXrender = x11 "libXrender";
      libSM = x11 "libSM";
      libICE = x11 "libICE";
      libxcb = x11 "libxcb";
      libXau = x11 "libXau";
      libXdmcp = x11 "libXdmcp";
      libXfixes = x11 "libXfixes";
      libXi = x11 "libXi";
      libXrandr = x11 "libXrandr";
      libXcursor = x11 "libXcursor";
      libXinerama = x11 "libXinerama";
      libXcomposite = x11 "libXcomposite";
      libXdamage = x11 "libXdamage";
      libXtst = x11 "libXtst";
      libxkbcommon = lib pkgs.libxkbcommon;
      openssl = lib pkgs.openssl;
      libpq = lib (pkgs.libpq or pkgs.postgresql);  # a package of its own since 2024
      libffi = lib pkgs.libffi;
      sqlite = lib pkgs.sqlite;
      libxcrypt = lib pkgs.libxcrypt;
      dbus = lib pkgs.dbus;
      libuuid = lib pkgs.libuuid;
      expat = lib pkgs.expat;
      curl = lib pkgs.curl;
      krb5 = lib pkgs.krb5;
      libxml2 = lib pkgs.libxml2;
      libxslt = lib pkgs.libxslt;
      libjpeg = lib pkgs.libjpeg;
      libpng = lib pkgs.libpng;
      libtiff = lib pkgs.libtiff;
      freetype = lib pkgs.freetype;
      fontconfig = lib pkgs.fontconfig;
      cairo = lib pkgs.cairo;
      geos = lib pkgs.geos;
      proj = lib pkgs.proj;
      gdal = lib pkgs.gdal;
      hdf5 = lib pkgs.hdf5;
      netcdf = lib pkgs.netcdf;
      openblas = lib pkgs.openblas;
      gmp = lib pkgs.gmp;
      mpfr = lib pkgs.mpfr;
      numactl = lib pkgs.numactl;
      ncurses = lib pkgs.ncurses;
      readline = lib pkgs.readline;
    };

  # Where NixOS puts the GPU driver's libraries ("/run/opengl-driver"): nixpkgs'
  # addDriverRunpath (addOpenGLRunpath before 2024).
  driverLink = (pkgs.addDriverRunpath or pkgs.addOpenGLRunpath).driverLink;

  # `nixpkgs` view: this package set with extra overlays.
  appendOverlays = pkgs.appendOverlays;
}
