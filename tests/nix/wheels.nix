# Unit tests of lib/wheels.nix.
let
  wheels = import ../../lib/wheels.nix { };
  names = [
    "six-1.16.0-py2.py3-none-any.whl"
    "cryptography-3.4.7-cp36-abi3-manylinux2014_x86_64.whl"
    "cryptography-3.3-cp36-abi3-manylinux1_x86_64.whl"
    "cryptography-2.9-cp35-abi3-manylinux2010_x86_64.whl"
    "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    "rpds_py-0.18.0-cp311-cp311-musllinux_1_2_x86_64.whl"
    "ninja-1.11.1-py2.py3-none-linux_x86_64.whl"
    "greenlet-3.0.3-cp311-cp311-macosx_11_0_universal2.whl"
  ];
in
{
  platformTagsCompressed = {
    expr = wheels.platformTags (builtins.elemAt names 4);
    expected = [ "manylinux_2_17_x86_64" "manylinux2014_x86_64" ];
  };
  platformTagsNotAWheel = { expr = wheels.platformTags "six-1.16.0.tar.gz"; expected = [ ]; };
  # F4: every manylinux spelling (and musllinux, linux_*) is native and patched on Linux.
  isNative = { expr = map wheels.isNative names; expected = [ false true true true true true true true ]; };
  isLinuxNative = { expr = map wheels.isLinuxNative names; expected = [ false true true true true true true false ]; };
  glibcNeeded = {
    expr = map wheels.glibcNeeded names;
    expected = [ null "2.17" "2.5" "2.12" "2.17" null null null ];
  };
  glibcNeededSmallestTag = {
    expr = wheels.glibcNeeded "g-3-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl";
    expected = "2.24";
  };
  glibcNeededTwoDigitMinor = {
    expr = builtins.compareVersions (wheels.glibcNeeded "x-1-cp311-cp311-manylinux_2_9_x86_64.whl") "2.17";
    expected = -1;
  };
}
