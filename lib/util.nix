# Small helpers over `builtins`, so the library needs nothing of nixpkgs' `lib`.
# Unit-tested in tests/nix/util.nix.
rec {
  /*
    PEP 503 normalised name: lowercase, runs of `-`, `_`, `.` become one `-`.

    Type: normalizeName :: String -> String

    Example:
      normalizeName "Zope.Interface" => "zope-interface"
  */
  normalizeName = name:
    let
      lower = toLower name;
      parts = builtins.filter builtins.isString (builtins.split "[-_.]+" lower);
    in
    builtins.concatStringsSep "-" parts;

  /*
    ASCII lowercase.

    Type: toLower :: String -> String
  */
  toLower = builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];

  /*
    Overlay composition, as nixpkgs' lib.composeExtensions: `g` sees what `f` set.

    Type: composeExtensions :: Extension -> Extension -> Extension
  */
  composeExtensions = f: g: final: prev:
    let
      fApplied = f final prev;
      prev' = prev // fApplied;
    in
    fApplied // g final prev';

  /*
    Compose a list of overlays, first to last.

    Type: composeManyExtensions :: [Extension] -> Extension
  */
  composeManyExtensions = builtins.foldl' composeExtensions (final: prev: { });

  /*
    True for a derivation (checks `type`, like lib.isDerivation).

    Type: isDerivation :: Any -> Bool
  */
  isDerivation = value: builtins.isAttrs value && (value.type or null) == "derivation";

  /*
    The list without repeated elements (first occurrence kept).

    Type: unique :: [a] -> [a]
  */
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  /*
    `list` when `cond` holds, else [ ].

    Type: optionals :: Bool -> [a] -> [a]
  */
  optionals = cond: list: if cond then list else [ ];

  /*
    `set` when `cond` holds, else { }.

    Type: optionalAttrs :: Bool -> AttrSet -> AttrSet
  */
  optionalAttrs = cond: set: if cond then set else { };

  /*
    A list as is, anything else as a one-element list.

    Type: toList :: (a | [a]) -> [a]
  */
  toList = x: if builtins.isList x then x else [ x ];

  /*
    True when `s` ends with `suffix`.

    Type: hasSuffix :: String -> String -> Bool
  */
  hasSuffix = suffix: s:
    let
      ls = builtins.stringLength s;
      lx = builtins.stringLength suffix;
    in
    ls >= lx && builtins.substring (ls - lx) lx s == suffix;

  /*
    Split a comma-separated string into trimmed, non-empty items.

    Type: splitComma :: String -> [String]

    Example:
      splitComma " wheel , sdist,," => [ "wheel" "sdist" ]
  */
  splitComma = s: builtins.filter (x: x != "")
    (map (x: let m = builtins.match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" x; in
      if m == null then "" else builtins.head m)
      (builtins.filter builtins.isString (builtins.split "," s)));

  /*
    The normalised name of a PEP 508 requirement string.

    Type: requirementName :: String -> String

    Example:
      requirementName "setuptools>=40; python_version<'3.12'" => "setuptools"
  */
  requirementName = req:
    let m = builtins.match "[[:space:]]*([A-Za-z0-9][A-Za-z0-9._-]*).*" req;
    in
    if m == null then throw "mach-nix: cannot read a name from the requirement '${req}'"
    else normalizeName (builtins.head m);

  /*
    A Python package of some interpreter's set: a derivation with `pythonModule`, not an
    application (`pythonModule = false`) and not the interpreter itself (nixpkgs puts the
    interpreter, as a module, into every package's propagatedBuildInputs).

    Type: isPythonPackage :: Any -> Bool
  */
  isPythonPackage = d: builtins.isAttrs d && d ? pythonModule && !(builtins.isBool d.pythonModule)
    && !(d ? interpreter && d ? sitePackages);

  /*
    The normalised project name of a Python package derivation: its pname, else its name
    without the interpreter prefix and the version.

    Type: pythonName :: Derivation -> String

    Example:
      pythonName { name = "python3.12-foo_bar-1.0"; … } => "foo-bar"
  */
  pythonName = d:
    let
      bare = (builtins.parseDrvName d.name).name;
      unprefixed = builtins.match "python[0-9.]+-(.*)" bare;
    in
    normalizeName (d.pname or (if unprefixed == null then bare else builtins.head unprefixed));

  /*
    A set with the given names, each value computed from its name.

    Type: genAttrs :: [String] -> (String -> a) -> AttrSet a
  */
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);

  /*
    Names as a set name -> true (fast membership).

    Type: toSet :: [String] -> AttrSet Bool
  */
  toSet = names: builtins.listToAttrs (map (n: { name = n; value = true; }) names);
}
