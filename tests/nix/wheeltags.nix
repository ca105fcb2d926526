# Unit tests of lib/wheeltags.nix: which wheels fit a target and which ranks first
# (tests/test_nix_pylock.py checks the choice against packaging.tags on a real uv file).
let
  w = import ../../lib/wheeltags.nix { };
  linux = w.rank { minor = 11; system = "x86_64-linux"; glibc = "2.40"; };
  oldGlibc = w.rank { minor = 11; system = "x86_64-linux"; glibc = "2.17"; };
  arm = w.rank { minor = 11; system = "aarch64-linux"; glibc = "2.40"; };
  mac = w.rank { minor = 12; system = "aarch64-darwin"; glibc = null; };
  fits = rank: names: map (n: rank n != null) names;
  best = rank: names: builtins.head (builtins.sort (a: b: rank a < rank b) (builtins.filter (n: rank n != null) names));
  names = [
    "x-1-py2.py3-none-any.whl"
    "x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    "x-1-cp311-cp311-manylinux_2_28_x86_64.whl"
    "x-1-cp36-abi3-manylinux2010_x86_64.whl"
    "x-1-cp312-cp312-manylinux_2_17_x86_64.whl"
    "x-1-cp311-cp311-musllinux_1_2_x86_64.whl"
    "x-1-cp311-cp311-linux_x86_64.whl"
    "x-1-cp311-cp311-win_amd64.whl"
    "x-1-cp311-cp311-macosx_10_9_universal2.whl"
    "x-1-cp311-cp311-manylinux_2_17_aarch64.whl"
    "x-1-cp312-cp312-macosx_11_0_arm64.whl"
    "x-1-cp312-cp312-macosx_14_0_arm64.whl"
    "x-1-py3-none-manylinux_2_17_x86_64.whl"
  ];
in
{
  fitsLinux = {
    expr = fits linux names;
    expected = [ true true true true false false false false false false false false true ];
  };
  # glibc 2.17: manylinux_2_28 does not load.
  fitsOldGlibc = { expr = oldGlibc (builtins.elemAt names 2); expected = null; };
  fitsArm = {
    expr = fits arm names;
    expected = [ true false false false false false false false false true false false false ];
  };
  fitsMac = {
    expr = fits mac names;
    expected = [ true false false false false false false false false false true false false ];
  };
  # The newest manylinux first, then older; the exact interpreter before abi3 before py3.
  bestLinux = { expr = best linux names; expected = builtins.elemAt names 2; };
  bestOldGlibc = { expr = best oldGlibc names; expected = builtins.elemAt names 1; };
  abi3BeforePure = {
    expr = best linux
      [ "x-1-py3-none-any.whl" "x-1-cp36-abi3-manylinux2010_x86_64.whl" "x-1-py3-none-manylinux_2_17_x86_64.whl" ];
    expected = "x-1-cp36-abi3-manylinux2010_x86_64.whl";
  };
  notAWheel = { expr = linux "x-1.tar.gz"; expected = null; };
}
