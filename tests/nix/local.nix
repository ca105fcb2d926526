# Unit tests of lib/local.nix through lib/lock.nix: the lock checker accepts the entries of
# local, archive and VCS sources and refuses bad ones, naming the field.
let
  surface = { system = "x86_64-linux"; fetchurl = args: { inherit (args) name url sha256; }; };
  lockLib = import ../../lib/lock.nix { inherit surface; };
  local = import ../../lib/local.nix { util = import ../../lib/util.nix; inherit surface; };
  sha = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274";
  rev = "dd0446df93410d247ec42933103b8121b0afa1a8";
  entry = provider: source: {
    name = "app"; version = "0.1.0"; inherit provider source; dependencies = [ ]; extras = [ ]; root = true;
    build_requires = [ "setuptools>=61" ];
  };
  lockOf = e: {
    version = 2; target = { python = "3.11.7"; system = "x86_64-linux"; }; roots = [ "app" ];
    packages.app = e;
  };
  first = e: let p = lockLib.problems (lockOf e); in if p == [ ] then null else builtins.head p;
  case = expr: expected: { inherit expr expected; };
in
{
  localDirectory = case (first (entry "local" { path = "."; })) null;
  localSibling = case (first (entry "local" { path = "../shared/lib"; editable = true; })) null;
  localArchive = case (first (entry "local" { path = "dist/app-0.1.0.tar.gz"; sha256 = sha; })) null;
  urlArchive = case (first (entry "url" { url = "https://example.org/app-0.1.0.tar.gz"; sha256 = sha;
    filename = "app-0.1.0.tar.gz"; })) null;
  vcsCommit = case (first (entry "vcs" { url = "https://example.org/app.git"; inherit rev; ref = "v0.1";
    subdirectory = "python"; })) null;

  absolutePath = case (first (entry "local" { path = "/srv/app"; }))
    ("packages.app.source.path is the absolute path \"/srv/app\": a lock names local sources relative to "
      + "its own directory");
  sneakyUpwards = case (first (entry "local" { path = "lib/../../etc"; }))
    "packages.app.source.path must be a normalised relative path (`lib`, `../shared/lib`), not \"lib/../../etc\"";
  homePath = case (first (entry "local" { path = "~/app"; }))
    "packages.app.source.path must be a normalised relative path (`lib`, `../shared/lib`), not \"~/app\"";
  pathMissing = case (first (entry "local" { })) "packages.app.source.path is missing";
  sourceMissing = case (first (builtins.removeAttrs (entry "local" { }) [ "source" ])) "packages.app.source is missing";
  urlNotHttps = case (first (entry "url" { url = "http://example.org/a.tar.gz"; sha256 = sha; filename = "a.tar.gz"; }))
    "packages.app.source.url must be an https:// URL, not \"http://example.org/a.tar.gz\"";
  urlWithoutHash = case (first (entry "url" { url = "https://example.org/a.tar.gz"; filename = "a.tar.gz"; }))
    "packages.app.source.sha256 is missing";
  vcsShortRev = case (first (entry "vcs" { url = "https://example.org/app.git"; rev = "dd0446d"; }))
    "packages.app.source.rev must be a full commit hash (40 hexadecimal digits), not \"dd0446d\"";
  vcsEscapingSubdirectory = case (first (entry "vcs" { url = "https://example.org/a.git"; inherit rev;
    subdirectory = "/etc"; }))
    ("packages.app.source.subdirectory is the absolute path \"/etc\": a lock names local sources relative to "
      + "its own directory");
  editableNotBool = case (first (entry "local" { path = "."; editable = "yes"; }))
    "packages.app.source.editable must be true or false";

  # Where the sources come from.
  urlIsFetched = case (local.src null (entry "url" { url = "https://example.org/app-0.1.0.tar.gz"; sha256 = sha;
    filename = "app-0.1.0.tar.gz"; })).name "app-0.1.0.tar.gz";
  localNeedsTheLocksPath = case
    (builtins.tryEval (local.src null (entry "local" { path = "."; }))).success false;
}
