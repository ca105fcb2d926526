# Unit tests of lib/lock.nix.
let
  surface = { system = "x86_64-linux"; };
  checkLock = import ../../lib/lock.nix { inherit surface; };
  python = { version = "3.11.2"; pythonVersion = "3.11"; };
  lock = { version = 1; target = { python = "3.11.7"; system = "x86_64-linux"; }; packages = { }; };
  ok = l: (builtins.tryEval (checkLock { lock = l; basePython = python; pythonAttr = "python3"; }).version).success;
in
{
  same = { expr = ok lock; expected = true; };
  otherFormat = { expr = ok (lock // { version = 2; }); expected = false; };
  otherPython = { expr = ok (lock // { target = lock.target // { python = "3.12.1"; }; }); expected = false; };
  otherSystem = { expr = ok (lock // { target = lock.target // { system = "aarch64-darwin"; }; }); expected = false; };
}
