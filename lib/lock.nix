# A lock given to mkPython (`lock = ./mach-nix.lock.json;`): read and checked against the
# target it is built for (docs/lock-format.md). The per-package checks (a nixpkgs version
# or a wheel's glibc that this nixpkgs does not have) are made where the package is built,
# in compose.nix.
{ surface }:
/*
  The lock, or an error saying how to regenerate it: another format version, Python minor
  version or system than this build's.

  Type: checkLock :: { lock :: Path | AttrSet, basePython :: Derivation, pythonAttr :: String } -> Lock
*/
{ lock, basePython, pythonAttr }:
let
  l = if builtins.isAttrs lock then lock else builtins.fromJSON (builtins.readFile lock);
  source = if builtins.isAttrs lock then "the lock given" else toString lock;
  lockPython = l.target.python or "";
  lockMinor = builtins.concatStringsSep "." (builtins.genList (builtins.elemAt (builtins.splitVersion lockPython)) 2);
  lockSystem = l.target.system or surface.system;
  redo = "re-run `mach-nix lock --python ${basePython.version} --system ${surface.system}`";
in
if (l.version or null) != 1 then
  throw "mach-nix: ${source} is not a mach-nix lock of format version 1; regenerate it with `mach-nix lock`"
else if lockMinor != basePython.pythonVersion then
  throw ("mach-nix: the lock was made for Python ${lockPython}, but `${pythonAttr}` is Python ${basePython.version}; "
    + redo)
else if lockSystem != surface.system then
  throw "mach-nix: the lock was made for ${lockSystem}, but this build is for ${surface.system}; ${redo}"
else l
