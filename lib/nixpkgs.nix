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
  nativeLibraries = {
    cc = pkgs.stdenv.cc.cc.lib or pkgs.stdenv.cc.cc;  # libstdc++, libgcc_s, libgomp
    zlib = pkgs.zlib;
  };

  # `nixpkgs` view: this package set with extra overlays.
  appendOverlays = pkgs.appendOverlays;
}
