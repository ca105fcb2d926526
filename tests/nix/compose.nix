# Unit tests of lib/compose.nix's decisions (the `plan`), on fake package sets: which
# nixpkgs packages stay nixpkgs' own derivations (F1), where cycles are cut (F3).
let
  util = import ../../lib/util.nix;
  surface = { isLinux = true; glibc = "2.40"; system = "x86_64-linux"; };
  compose = import ../../lib/compose.nix { inherit util surface; };
  interpreter = {
    type = "derivation"; name = "python3-3.11.2"; pythonModule = { }; interpreter = "/bin/python"; sitePackages = "lib";
  };
  pkg = pname: version: deps: {
    type = "derivation"; inherit pname version; name = "python3.11-${pname}-${version}";
    pythonModule = interpreter; propagatedBuildInputs = deps ++ [ interpreter ];
    overridePythonAttrs = f: pkg pname version deps // { overridden = f { }; };
  };
  base = rec {
    certifi = pkg "certifi" "2023.11.17" [ ];
    idna = pkg "idna" "3.6" [ ];
    requests = pkg "requests" "2.31.0" [ certifi idna ];
    pygobject3 = pkg "pygobject" "3.48.0" [ ];
  };
  entry = name: version: deps: extra: {
    inherit name version; provider = "nixpkgs"; nixpkgs_attr = name; dependencies_known = true;
    dependencies = deps;
  } // extra;
  lockOf = packages: { version = 2; roots = [ "requests" ]; inherit packages; };
  nixpkgsLock = lockOf {
    certifi = entry "certifi" "2023.11.17" [ ] { };
    idna = entry "idna" "3.6" [ ] { };
    requests = entry "requests" "2.31.0" [ "certifi" "idna" ] { };
  };
  planOf = lock: args: (compose ({ inherit lock; basePackages = base; } // args)).plan;
in
{
  # F1: the interpreter nixpkgs propagates does not count: everything is kept.
  allKept = { expr = planOf nixpkgsLock { }; expected = { kept = [ "certifi" "idna" "requests" ]; cut = [ ]; }; };
  testsRebuild = { expr = (planOf nixpkgsLock { tests = true; }).kept; expected = [ ]; };
  changedDependency = {
    expr = (planOf (lockOf (nixpkgsLock.packages // {
      idna = entry "idna" "3.7" [ ] { provider = "wheel"; };
    })) { }).kept;
    expected = [ "certifi" ];
  };
  extraLockDependency = {
    expr = (planOf (lockOf (nixpkgsLock.packages // {
      certifi = entry "certifi" "2023.11.17" [ "idna" ] { };
    })) { }).kept;
    expected = [ "idna" ];
  };
  unknownDependenciesKept = {
    expr = (planOf (lockOf (nixpkgsLock.packages // {
      requests = entry "requests" "2.31.0" [ ] { dependencies_known = false; };
    })) { }).kept;
    expected = [ "certifi" "idna" "requests" ];
  };
  # F3: a lock cycle is cut at the edge nixpkgs' recipes do not have.
  cycleCutOutsideRecipes = {
    expr = planOf (lockOf (nixpkgsLock.packages // { idna = entry "idna" "3.6" [ "requests" ] { }; })) { };
    expected = { kept = [ "certifi" "idna" "requests" ]; cut = [ "idna>requests" ]; };
  };
  # F12: the package is also set under its nixpkgs attribute.
  attributeAlias = {
    expr = builtins.attrNames ((compose {
      lock = lockOf { pygobject = entry "pygobject" "3.48.0" [ ] { nixpkgs_attr = "pygobject3"; }; };
      basePackages = base;
    }).overrides { } base);
    expected = [ "pygobject" "pygobject3" ];
  };
  # F11: another version than this nixpkgs' is refused.
  versionMismatch = {
    expr = (builtins.tryEval ((compose {
      lock = lockOf { certifi = entry "certifi" "2022.12.7" [ ] { }; };
      basePackages = base;
    }).overrides { } base).certifi).success;
    expected = false;
  };
}
