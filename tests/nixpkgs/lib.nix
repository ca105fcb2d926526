# The part of nixpkgs' `lib` that the double (and code written against nixpkgs) uses.
# Semantics follow nixpkgs lib/fixed-points.nix, lib/customisation.nix, lib/lists.nix,
# lib/strings.nix and lib/attrsets.nix; only what is listed here exists.
let
  lib = rec {
    # --- fixed points (lib/fixed-points.nix) ---
    fix = f: let x = f x; in x;
    extends = overlay: f: (final: let prev = f final; in prev // overlay final prev);
    composeExtensions = f: g: final: prev:
      let fApplied = f final prev; prev' = prev // fApplied;
      in fApplied // g final prev';
    composeManyExtensions = builtins.foldl' composeExtensions (final: prev: { });
    # An attribute set, `prev: attrs` or `final: prev: attrs` as an overlay.
    toExtension = f:
      if builtins.isFunction f then
        (final: prev: let fPrev = f prev; in if builtins.isFunction fPrev then f final prev else fPrev)
      else (final: prev: f);
    makeExtensible = makeExtensibleWithCustomName "extend";
    makeExtensibleWithCustomName = extenderName: rattrs:
      fix (self: rattrs self // {
        ${extenderName} = f: makeExtensibleWithCustomName extenderName (extends f rattrs);
      });

    # --- customisation (lib/customisation.nix) ---
    # A second `.override` re-calls `f` with `origArgs // newArgs`: it replaces, never merges,
    # an argument given twice (this is what makes a second packageOverrides drop the first).
    makeOverridable = f: origArgs:
      let
        result = f origArgs;
        overrideWith = newArgs: origArgs // (if builtins.isFunction newArgs then newArgs origArgs else newArgs);
        overrideResult = g: makeOverridable (_: g) origArgs;
      in
      if builtins.isAttrs result then
        result // {
          override = newArgs: makeOverridable f (overrideWith newArgs);
          overrideDerivation = fdrv: overrideResult (x: overrideDerivation (f x) fdrv);
        }
      else if builtins.isFunction result then
        { __functor = self: result; override = newArgs: makeOverridable f (overrideWith newArgs); }
      else result;
    overrideDerivation = drv: f: drv // (f drv);
    callPackageWith = autoArgs: fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
        fargs = builtins.functionArgs f;
        allArgs = builtins.intersectAttrs fargs autoArgs // args;
      in makeOverridable f allArgs;
    extendDerivation = condition: passthru: drv:
      let
        outputs = drv.outputs or [ "out" ];
        commonAttrs = drv // (builtins.listToAttrs outputsList) // { all = map (x: x.value) outputsList; } // passthru;
        outputToAttrListElement = outputName: {
          name = outputName;
          value = commonAttrs // {
            inherit (drv.${outputName}) type outputName;
            outputSpecified = true;
            drvPath = assert condition; drv.${outputName}.drvPath;
            outPath = assert condition; drv.${outputName}.outPath;
          };
        };
        outputsList = map outputToAttrListElement outputs;
      in commonAttrs // {
        drvPath = assert condition; drv.drvPath;
        outPath = assert condition; drv.outPath;
      };

    # --- attrsets ---
    isDerivation = value: builtins.isAttrs value && (value.type or null) == "derivation";
    mapAttrs = builtins.mapAttrs;
    filterAttrs = pred: set: builtins.listToAttrs (builtins.concatMap
      (name: let v = set.${name}; in if pred name v then [ { inherit name; value = v; } ] else [ ])
      (builtins.attrNames set));
    optionalAttrs = cond: as: if cond then as else { };
    attrByPath = attrPath: default: set:
      if attrPath == [ ] then set
      else let h = builtins.head attrPath; in
        if set ? ${h} then attrByPath (builtins.tail attrPath) default set.${h} else default;
    getLib = drv: drv.lib or drv.out or drv;
    getBin = drv: drv.bin or drv.out or drv;
    getDev = drv: drv.dev or drv.out or drv;
    recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };

    # --- lists ---
    optional = cond: elem: if cond then [ elem ] else [ ];
    optionals = cond: elems: if cond then elems else [ ];
    flatten = x: if builtins.isList x then builtins.concatMap flatten x else [ x ];
    unique = builtins.foldl' (acc: e: if builtins.elem e acc then acc else acc ++ [ e ]) [ ];
    toList = x: if builtins.isList x then x else [ x ];
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
    genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    imap0 = f: list: builtins.genList (n: f n (builtins.elemAt list n)) (builtins.length list);

    # --- strings ---
    hasPrefix = pref: str: builtins.substring 0 (builtins.stringLength pref) str == pref;
    hasSuffix = suffix: content:
      let lc = builtins.stringLength content; ls = builtins.stringLength suffix;
      in lc >= ls && builtins.substring (lc - ls) lc content == suffix;
    removePrefix = prefix: str:
      if hasPrefix prefix str
      then builtins.substring (builtins.stringLength prefix) (builtins.stringLength str) str
      else str;
    removeSuffix = suffix: str:
      if hasSuffix suffix str
      then builtins.substring 0 (builtins.stringLength str - builtins.stringLength suffix) str
      else str;
    concatStringsSep = builtins.concatStringsSep;
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    makeSearchPath = subDir: paths: builtins.concatStringsSep ":" (map (p: "${p}/${subDir}") paths);
    escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
    toLower = builtins.replaceStrings
      [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
      [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];

    # --- versions ---
    versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
    versionAtLeast = v1: v2: !versionOlder v1 v2;
    versions = {
      majorMinor = v: let p = builtins.splitVersion v; in "${builtins.elemAt p 0}.${builtins.elemAt p 1}";
    };

    # --- misc ---
    id = x: x;
    const = x: _: x;
    warn = msg: builtins.trace "warning: ${msg}";
    systems.flakeExposed = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
  };
in
lib
