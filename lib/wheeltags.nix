# Which wheels fit a target, and which fits best: the tag order of `packaging.tags` that the
# resolver uses (resolver/mach_nix/target.py), in pure Nix, for lock files that list several
# wheels per package (pylock.toml written by uv). Unit tests: tests/nix/wheeltags.nix.
#
# A target is { minor; system; glibc; macos; }: CPython 3.<minor>, a Nix system, the glibc
# ("2.40", Linux; null: no manylinux wheel fits) and the macOS deployment target ("11.0",
# Darwin). Accepted, best first (as packaging.tags.cpython_tags, then compatible_tags):
# cp3M-cp3M, cp3M-abi3, cp3M-none, cp3k-abi3 (k < M) on a platform tag; py3M, py3, py3k with
# abi none on a platform tag; then cp3M-none-any, py3M-none-any, py3-none-any, py3k-none-any.
# Platform tags: manylinux_2_X (X up to the glibc, newest first, the legacy manylinux1/2010/2014
# aliases after their glibc) on Linux; macosx_A_B for A.B up to the deployment target with the
# architecture's binary formats on Darwin. Like the resolver, plain linux_* and musllinux are
# not accepted.
{ }:
let
  toInt = builtins.fromJSON;
  legacy = { manylinux1 = 5; manylinux2010 = 12; manylinux2014 = 17; };
  floor = { x86_64 = 5; aarch64 = 17; };
  macFormats = {
    arm64 = [ "arm64" "universal2" ];
    x86_64 = [ "x86_64" "intel" "fat64" "fat32" "universal2" "universal" ];
  };
  indexOf = x: l:
    let go = i: if i == builtins.length l then null else if builtins.elemAt l i == x then i else go (i + 1); in go 0;

  # The rank of a platform tag (0 = best) for the target, or null.
  platformRank = target: tag:
    let
      isLinux = builtins.match ".*-linux" target.system != null;
      arch = builtins.head (builtins.split "-" target.system);
      pep600 = builtins.match "manylinux_([0-9]+)_([0-9]+)_(.*)" tag;
      old = builtins.match "(manylinux1|manylinux2010|manylinux2014)_(.*)" tag;
      glibcMinor =
        if target.glibc == null then null else toInt (builtins.elemAt (builtins.splitVersion target.glibc) 1);
      linuxRank = x: isLegacy:
        if glibcMinor == null || x > glibcMinor || x < (floor.${arch} or 0) then null
        else (glibcMinor - x) * 2 + (if isLegacy then 1 else 0);
      mac = builtins.match "macosx_([0-9]+)_([0-9]+)_(.*)" tag;
      machine = if arch == "aarch64" then "arm64" else arch;
      deployment = map toInt (builtins.splitVersion (target.macos or (if arch == "aarch64" then "11.0" else "10.12")));
      macRank =
        let
          a = toInt (builtins.elemAt mac 0);
          b = toInt (builtins.elemAt mac 1);
          format = builtins.elemAt mac 2;
          ta = builtins.elemAt deployment 0;
          tb = builtins.elemAt deployment 1;
          formatIndex = indexOf format (macFormats.${machine} or [ ]);
          # arm64 exists from macOS 11 on; only universal2 wheels may name an older version.
          versionOk = (a < ta || (a == ta && b <= tb)) && (machine != "arm64" || a >= 11 || format == "universal2");
        in
        if formatIndex == null || !versionOk then null else ((ta - a) * 100 + (tb - b)) * 10 + formatIndex;
    in
    if isLinux then
      (if pep600 != null && toInt (builtins.elemAt pep600 0) == 2 && builtins.elemAt pep600 2 == arch
       then linuxRank (toInt (builtins.elemAt pep600 1)) false
       else if old != null && builtins.elemAt old 1 == arch then linuxRank legacy.${builtins.head old} true
       else null)
    else if mac != null then macRank
    else null;

  # The rank group of an interpreter and ABI tag for a platform tag (any or not), or null.
  groupRank = minor: python: abi: anyPlatform:
    let
      cp = builtins.match "cp3([0-9]+)" python;
      py = builtins.match "py3([0-9]*)" python;
      k = if cp != null then toInt (builtins.head cp)
        else if py != null && builtins.head py != "" then toInt (builtins.head py) else null;
      own = "cp3${toString minor}";
    in
    if anyPlatform then
      (if abi != "none" then null
       else if python == own then 200
       else if py != null && k == minor then 201
       else if py != null && k == null then 202
       else if py != null && k < minor then 203 + (minor - k)
       else null)
    else if cp != null && k == minor then
      (if abi == own then 0 else if abi == "abi3" then 1 else if abi == "none" then 2 else null)
    else if cp != null && k < minor && abi == "abi3" then 3 + (minor - k)
    else if py != null && abi == "none" then
      (if k == minor then 100 else if k == null then 101 else if k < minor then 102 + (minor - k) else null)
    else null;

  splitDots = s: builtins.filter builtins.isString (builtins.split "[.]" s);
in
{
  /*
    The rank of a wheel file name for a target (0 = best; smaller is better), or null when
    it does not fit. A compressed tag set ranks as its best tag.

    Type: rank :: { minor :: Int, system :: String, glibc :: String | Null, macos ? String } -> String -> Int | Null

    Example:
      rank { minor = 11; system = "x86_64-linux"; glibc = "2.40"; } "six-1.16.0-py2.py3-none-any.whl" => 202000
  */
  rank = target: filename:
    let
      m = builtins.match "(.*)-([^-]+)-([^-]+)-([^-]+)[.]whl" filename;
      pythons = splitDots (builtins.elemAt m 1);
      abis = splitDots (builtins.elemAt m 2);
      platforms = splitDots (builtins.elemAt m 3);
      ranks = builtins.concatMap (plat:
        let
          anyPlatform = plat == "any";
          p = if anyPlatform then 0 else platformRank target plat;
        in
        if p == null then [ ]
        else builtins.concatMap (python: builtins.concatMap (abi:
          let g = groupRank target.minor python abi anyPlatform; in
          if g == null then [ ] else [ (g * 1000 + p) ]) abis) pythons) platforms;
    in
    if m == null || ranks == [ ] then null
    else builtins.foldl' (a: b: if b < a then b else a) (builtins.head ranks) ranks;
}
