# PEP 508 environment markers and PEP 440 version specifiers, evaluated in pure Nix for one
# target: what a pylock.toml written elsewhere (uv, pip) needs at evaluation time
# (`environments`, `packages.marker`, `requires-python`), without import-from-derivation.
#
# Markers: `and`, `or`, parentheses, comparisons of a variable with a quoted string (either
# side), `in` / `not in`, and PEP 751's `'x' in extras` / `'g' in dependency_groups` (sets).
# Version variables (python_version, python_full_version, implementation_version) compare as
# versions (`~=`, `==X.*` included), every other one as strings. A marker that cannot be read
# is an error naming it. Unit tests: tests/nix/pep508.nix.
{ }:
let
  versionVariables = [ "python_version" "python_full_version" "implementation_version" "platform_release" ];

  # Release segments of a version ("3.11.2" -> [ 3 11 2 ]); null for anything else.
  release = v:
    let m = builtins.match "v?([0-9]+([.][0-9]+)*)" v; in
    if m == null then null
    else map builtins.fromJSON (builtins.filter builtins.isString (builtins.split "[.]" (builtins.head m)));

  pad = n: l: l ++ builtins.genList (_: 0) (if n > builtins.length l then n - builtins.length l else 0);
  maxLen = a: b: if builtins.length a > builtins.length b then builtins.length a else builtins.length b;

  # -1, 0 or 1; release versions compare segment by segment with zeros padded (3.11 == 3.11.0),
  # others as Nix's compareVersions does.
  compare = a: b:
    let ra = release a; rb = release b; in
    if ra == null || rb == null then builtins.compareVersions a b
    else
      let
        n = maxLen ra rb;
        pa = pad n ra;
        pb = pad n rb;
        go = i: if i == n then 0
          else if builtins.elemAt pa i < builtins.elemAt pb i then -1
          else if builtins.elemAt pa i > builtins.elemAt pb i then 1
          else go (i + 1);
      in
      go 0;

  # Whether `v` starts with the release segments of `prefix` ("3.11.2" starts with "3.11").
  hasPrefix = v: prefix:
    let rv = release v; rp = release prefix; in
    rv != null && rp != null && builtins.length (pad (builtins.length rp) rv) >= builtins.length rp
      && builtins.genList (i: builtins.elemAt (pad (builtins.length rp) rv) i) (builtins.length rp) == rp;

  # One version comparison `v op spec`; null when the operator is unknown.
  versionOp = op: v: spec:
    let
      wildcard = builtins.match "(.*)[.][*]" spec;
      base = if wildcard != null then builtins.head wildcard else spec;
      compatible =
        let r = release spec; in
        if r == null || builtins.length r < 2 then null
        else compare v spec >= 0
          && hasPrefix v (builtins.concatStringsSep "." (map toString (builtins.genList (builtins.elemAt r)
            (builtins.length r - 1))));
    in
    if op == "==" then (if wildcard != null then hasPrefix v base else compare v spec == 0)
    else if op == "!=" then (if wildcard != null then !(hasPrefix v base) else compare v spec != 0)
    else if op == ">=" then compare v spec >= 0
    else if op == "<=" then compare v spec <= 0
    else if op == ">" then compare v spec > 0
    else if op == "<" then compare v spec < 0
    else if op == "~=" then compatible
    else if op == "===" then v == spec
    else null;

  trim = s:
    let m = builtins.match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" s; in
    if m == null then "" else builtins.head m;

  tokenRe = "('[^']*'|\"[^\"]*\"|[(]|[)]|===|==|!=|<=|>=|~=|<|>|not[[:space:]]+in|[A-Za-z_][A-Za-z0-9_.]*)";

  # The tokens of a marker, or null when some text between them is not blank.
  tokenize = marker:
    let
      parts = builtins.split tokenRe marker;
      gaps = builtins.filter builtins.isString parts;
      tokens = map builtins.head (builtins.filter builtins.isList parts);
    in
    if builtins.all (g: builtins.match "[[:space:]]*" g != null) gaps then
      map (t: if builtins.match "not[[:space:]]+in" t != null then "not in" else t) tokens
    else null;

  isQuoted = t: builtins.match "'.*'|\".*\"" t != null;
  unquote = t: builtins.substring 1 (builtins.stringLength t - 2) t;
  comparisons = [ "===" "==" "!=" "<=" ">=" "~=" "<" ">" "in" "not in" ];
in
rec {
  inherit compare;

  /*
    Whether a version satisfies a PEP 440 specifier set (clauses separated by commas; the
    empty set admits everything). Pre-release rules are not applied (the versions checked are
    interpreters').

    Type: satisfies :: String -> String -> Bool

    Example:
      satisfies "3.11.2" ">=3.9, <3.13" => true
      satisfies "3.11.2" "==3.12.*" => false
  */
  satisfies = satisfiesAt "";

  /*
    `satisfies`, with `where` (e.g. "pylock.toml: requires-python: ") before the error of a
    specifier that cannot be read.

    Type: satisfiesAt :: String -> String -> String -> Bool
  */
  satisfiesAt = where: version: specifiers:
    let
      pieces = builtins.filter builtins.isString (builtins.split "," specifiers);
      clauses = builtins.filter (c: c != "") (map trim pieces);
      check = clause:
        let m = builtins.match "(===|==|!=|<=|>=|~=|<|>)[[:space:]]*([^[:space:]]+)" clause; in
        if m == null then throw "mach-nix: ${where}cannot read the version specifier '${specifiers}'"
        else versionOp (builtins.elemAt m 0) version (builtins.elemAt m 1);
    in
    builtins.all check clauses;

  /*
    The marker environment of CPython `python` (X.Y.Z) on a Nix system, as
    resolver/mach_nix/platforms.py defines it, plus PEP 751's `extras` and
    `dependency_groups` (lists).

    Type: environment :: { python :: String, system :: String, extras ? [String], dependencyGroups ? [String] }
      -> AttrSet
  */
  environment = { python, system, extras ? [ ], dependencyGroups ? [ ] }:
    let
      parts = builtins.splitVersion python;
      isLinux = builtins.match ".*-linux" system != null;
      arch = builtins.head (builtins.split "-" system);
    in
    {
      implementation_name = "cpython";
      implementation_version = python;
      os_name = "posix";
      platform_machine = if !isLinux && arch == "aarch64" then "arm64" else arch;
      platform_python_implementation = "CPython";
      platform_release = "";
      platform_system = if isLinux then "Linux" else "Darwin";
      platform_version = "";
      python_full_version = python;
      python_version = "${builtins.elemAt parts 0}.${builtins.elemAt parts 1}";
      sys_platform = if isLinux then "linux" else "darwin";
      extra = "";
      inherit extras;
      dependency_groups = dependencyGroups;
    };

  /*
    Whether a PEP 508 marker holds in an environment (see `environment`); throws a
    `mach-nix:` error naming the marker when it cannot be read.

    Type: evaluate :: AttrSet -> String -> Bool

    Example:
      evaluate env "sys_platform == 'win32' or python_version >= '3.10'" => true
  */
  evaluate = evaluateAt "";

  /*
    `evaluate`, with `where` (e.g. "pylock.toml: packages[3].marker: ") before the error of a
    marker that cannot be read.

    Type: evaluateAt :: String -> AttrSet -> String -> Bool
  */
  evaluateAt = where: env: marker:
    let
      tokens = tokenize marker;
      n = builtins.length tokens;
      bad = why: throw "mach-nix: ${where}cannot read the marker \"${marker}\": ${why}";
      at = i: if i < n then builtins.elemAt tokens i else null;
      value = t:
        if isQuoted t then unquote t
        else if env ? ${t} then env.${t}
        else bad "unknown variable `${t}`";
      compareTokens = l: op: r:
        let
          lv = value l;
          rv = value r;
          isVersionVariable = t: !(isQuoted t) && builtins.elem t versionVariables;
          versionish = isVersionVariable l || isVersionVariable r;
          asVersion = if versionish && builtins.isString lv && builtins.isString rv then versionOp op lv rv else null;
        in
        if op == "in" || op == "not in" then
          let found = if builtins.isList rv then builtins.elem lv rv
            else builtins.isString rv && builtins.isString lv && builtins.match ".*${escape lv}.*" rv != null;
          in if op == "in" then found else !found
        else if asVersion != null then asVersion
        else if op == "==" || op == "===" then lv == rv
        else if op == "!=" then lv != rv
        else bad "`${op}` compares versions, but ${l} and ${r} are not";
      escape = s: builtins.replaceStrings [ "." "*" "+" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" "\\" ]
        [ "[.]" "[*]" "[+]" "[?]" "[(]" "[)]" "\\[" "\\]" "[{]" "[}]" "[|]" "\\^" "[$]" "\\\\" ] s;
      # Each parser returns { v; i; }: the value and the index of the next token.
      atom = i:
        if at i == "(" then
          let inner = disjunction (i + 1); in
          if at inner.i == ")" then { v = inner.v; i = inner.i + 1; } else bad "a `(` is not closed"
        else if at i == null || at (i + 1) == null || at (i + 2) == null then bad "it ends too early"
        else if !(builtins.elem (at (i + 1)) comparisons) then bad "`${at (i + 1)}` is not a comparison"
        else { v = compareTokens (at i) (at (i + 1)) (at (i + 2)); i = i + 3; };
      chain = word: next: i:
        let
          first = next i;
          loop = acc: if at acc.i == word then
              let rhs = next (acc.i + 1); in
              loop { v = if word == "and" then acc.v && rhs.v else acc.v || rhs.v; i = rhs.i; }
            else acc;
        in
        loop first;
      conjunction = chain "and" atom;
      disjunction = chain "or" conjunction;
      result = disjunction 0;
    in
    if tokens == null then bad "it has text that is not a marker token"
    else if n == 0 then true
    else if result.i != n then bad "unexpected `${at result.i}`"
    else result.v;
}
