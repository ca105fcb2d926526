# Wheel file names (PEP 427, PEP 425 compressed tag sets, PEP 600 and the legacy manylinux
# tags): pure functions, unit-tested in tests/nix/wheels.nix.
{ }:
rec {
  /*
    The platform tags of a wheel file name (a compressed tag set gives several).

    Type: platformTags :: String -> [String]

    Example:
      platformTags "numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
      => [ "manylinux_2_17_x86_64" "manylinux2014_x86_64" ]
  */
  platformTags = filename:
    let
      m = builtins.match "(.*)-([^-]+)\\.whl" filename;
    in
    if m == null then [ ]
    else builtins.filter builtins.isString (builtins.split "\\." (builtins.elemAt m 1));

  /*
    True for a wheel with compiled code for some platform, i.e. any platform tag other than
    `any`: every spelling of manylinux (`manylinux1`, `manylinux2010`, `manylinux2014`,
    `manylinux_2_X`), musllinux, plain `linux_*`, macOS, Windows.

    Type: isNative :: String -> Bool
  */
  isNative = filename: builtins.any (tag: tag != "any") (platformTags filename);

  /*
    True for a native wheel built for Linux (the ones autoPatchelf must patch).

    Type: isLinuxNative :: String -> Bool
  */
  isLinuxNative = filename:
    builtins.any (tag: builtins.match "(many|musl)?linux.*" tag != null) (platformTags filename);

  /*
    The oldest glibc any of a wheel's tags runs on ("2.17"), or null when no tag states
    one (pure wheels, musllinux, plain `linux_*`, other systems). A compressed tag set
    runs where any of its tags does, so the smallest version counts.

    Type: glibcNeeded :: String -> String | Null

    Example:
      glibcNeeded "x-1-cp36-abi3-manylinux2010_x86_64.whl" => "2.12"
  */
  glibcNeeded = filename:
    let
      legacy = { manylinux1 = "2.5"; manylinux2010 = "2.12"; manylinux2014 = "2.17"; };
      versionOf = tag:
        let
          pep600 = builtins.match "manylinux_([0-9]+)_([0-9]+)_.*" tag;
          old = builtins.match "(manylinux1|manylinux2010|manylinux2014)_.*" tag;
        in
        if pep600 != null then "${builtins.elemAt pep600 0}.${builtins.elemAt pep600 1}"
        else if old != null then legacy.${builtins.head old}
        else null;
      versions = builtins.filter (v: v != null) (map versionOf (platformTags filename));
      smaller = a: b: if builtins.compareVersions a b <= 0 then a else b;
    in
    if versions == [ ] then null else builtins.foldl' smaller (builtins.head versions) versions;
}
