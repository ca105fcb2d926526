# Unit tests of lib/native.nix.
let
  util = import ../../lib/util.nix;
  surface = { nativeLibraries = { cc = "cc-lib"; zlib = "zlib"; }; patchelf = "patchelf"; };
  native = import ../../lib/native.nix { inherit util surface; };
  entry = artifact: {
    name = "x"; version = "1"; artifact = { filename = "x-1-cp311-cp311-linux_x86_64.whl"; } // artifact;
  };
in
{
  defaults = { expr = native.librariesFor (entry { }); expected = [ "cc-lib" "zlib" ]; };
  # A lock entry listing its sonames gets what they need (unknown ones are left to the check).
  byNeed = {
    expr = native.librariesFor (entry { needed = [ "libgomp.so.1" "libstdc++.so.6" "libGL.so.1" ]; });
    expected = [ "cc-lib" ];
  };
  nothingNeeded = { expr = native.librariesFor (entry { needed = [ ]; }); expected = [ ]; };
  checkNamesPackage = {
    expr = builtins.match ".*mach-nix: x 1 \\(x-1-cp311-cp311-linux_x86_64.whl\\).*_\\.x\\.buildInputs\\.add.*"
      (native.check (entry { })) != null;
    expected = true;
  };
}
