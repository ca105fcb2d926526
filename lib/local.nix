# The lock's local, archive and VCS sources (providers `local`, `url`, `vcs`; docs/lock-format.md,
# "Local, archive and VCS sources"): their validation and their `src`.
#
#   local  source.path, relative to the lock's directory (never absolute; `..` only as leading
#          components): a directory is copied to the store (without .git, virtual environments,
#          caches, result links), a file (an archive or a wheel) too, checked by its sha256;
#   url    source.url (https) and source.sha256: fetchurl;
#   vcs    source.url and source.rev (a full commit): builtins.fetchGit with `rev` (all refs
#          searched, so a tag or branch that moved does not matter), source.subdirectory inside.
{ util, surface }:
let
  providers = [ "local" "url" "vcs" ];
  sha256Pattern = "[0-9a-f]{64}";
  matches = re: s: builtins.match re s != null;
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  describe = v: if builtins.isString v then builtins.toJSON v else builtins.typeOf v;

  # A relative POSIX path: no leading `/`, no empty, `.` or `~` component, `..` only leading.
  pathProblems = p: v:
    let
      parts = builtins.filter builtins.isString (builtins.split "/" v);
      inner = builtins.filter (c: c != "..") parts;
      leading = builtins.length parts - builtins.length inner;
      upOnlyLeading = builtins.all (i: builtins.elemAt parts i == "..") (builtins.genList (i: i) leading);
    in
    if v == "" then [ "${p} is empty" ]
    else if hasPrefix "/" v then
      [ "${p} is the absolute path ${describe v}: a lock names local sources relative to its own directory" ]
    else if v == "." then [ ]
    else if builtins.any (c: c == "" || c == "." || hasPrefix "~" c) parts || !upOnlyLeading then
      [ "${p} must be a normalised relative path (`lib`, `../shared/lib`), not ${describe v}" ]
    else [ ];

  str = p: set: key: check:
    if !(set ? ${key}) then [ "${p}.${key} is missing" ]
    else if !(builtins.isString set.${key}) then [ "${p}.${key} must be a string, not ${describe set.${key}}" ]
    else check "${p}.${key}" set.${key};
  optionalStr = p: set: key: check: if set ? ${key} then str p set key check else [ ];
  shaped = re: what: p: v: if matches re v then [ ] else [ "${p} must be ${what}, not ${describe v}" ];
  optionalBool = p: set: key:
    if set ? ${key} && !(builtins.isBool set.${key}) then [ "${p}.${key} must be true or false" ] else [ ];
  fileName = shaped "[A-Za-z0-9][A-Za-z0-9._+-]*" "a file name (letters, digits, `._+-`)";

  skipped = [ ".git" ".hg" ".svn" ".venv" "venv" ".tox" ".nox" "__pycache__" ".mypy_cache" ".pytest_cache"
    ".ruff_cache" "node_modules" ".mach-nix-venv" "result" ];
in
rec {
  inherit providers;

  /* Whether a lock entry is a local, archive or VCS source.

     Type: isSource :: AttrSet -> Bool */
  isSource = entry: builtins.elem (entry.provider or null) providers;

  /* Whether the source is a wheel file (installed, not built).

     Type: isWheel :: AttrSet -> Bool */
  isWheel = entry: entry.source.wheel or false;

  /* The problems of an entry's `source` (field paths named, as lib/lock.nix reports them).

     Type: problems :: String -> String -> Any -> [String] */
  problems = path: provider: source:
    let p = "${path}.source"; in
    if !(builtins.isAttrs source) then [ "${p} must be an object, not ${describe source}" ]
    else optionalBool p source "editable" ++ optionalBool p source "wheel" ++ (
      if provider == "local" then
        str p source "path" pathProblems
        ++ optionalStr p source "sha256" (shaped sha256Pattern "64 lowercase hexadecimal digits")
      else if provider == "url" then
        str p source "url" (shaped "https://[^[:space:]]+" "an https:// URL")
        ++ str p source "sha256" (shaped sha256Pattern "64 lowercase hexadecimal digits")
        ++ str p source "filename" fileName
      else
        str p source "url" (shaped "(https|http|ssh|git|file)://[^[:space:]]+" "a git repository URL")
        ++ str p source "rev" (shaped "[0-9a-f]{40}" "a full commit hash (40 hexadecimal digits)")
        ++ optionalStr p source "ref" (_: _: [ ])
        ++ optionalStr p source "subdirectory" pathProblems);

  /* A file name for the entry's artifact-like uses (wheel tags, messages).

     Type: filename :: AttrSet -> String */
  filename = entry:
    if entry.provider == "url" then entry.source.filename
    else if entry.provider == "local" then baseNameOf entry.source.path
    else "${entry.name}-${entry.version}";

  /* The entry's source tree or file; `lockRoot` is the lock's directory (null: the lock was
     not given as a path, and a local source cannot be found).

     Type: src :: (Path | String | Null) -> AttrSet -> Path | Derivation | String */
  src = lockRoot: entry:
    if entry.provider == "local" then
      if lockRoot == null then
        throw ("mach-nix: the lock's ${entry.name} is the local source ${entry.source.path}, relative to the lock's "
          + "directory; give the lock as a path (lock = ./mach-nix.lock.json;) so that it can be found")
      else
        let
          where = lockRoot + "/${entry.source.path}";
          name = "${entry.name}-${entry.version}-source";
        in
        if entry.source ? sha256 then
          builtins.path { path = where; name = baseNameOf entry.source.path; recursive = false;
            inherit (entry.source) sha256; }
        else
          builtins.path {
            path = where;
            inherit name;
            filter = path: type: !(builtins.elem (baseNameOf path) skipped) && !(util.hasSuffix ".egg-info" path)
              && type != "unknown";
          }
    else if entry.provider == "url" then
      surface.fetchurl { inherit (entry.source) url sha256; name = entry.source.filename; }
    else
      let
        tree = builtins.fetchGit { inherit (entry.source) url rev; allRefs = true; };
      in
      if entry.source ? subdirectory then "${tree}/${entry.source.subdirectory}" else tree;
}
