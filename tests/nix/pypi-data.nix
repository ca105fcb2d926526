# Unit tests of lib/pypi-data.nix: { <case> = { expr; expected; }; } (run by tests/test_nix_unit.py).
let
  surface = {
    fetchurl = args: { outPath = "/store/${args.name}-${args.sha256}"; inherit args; };
    runCommand = name: env: script: { inherit name script; };
  };
  published = import ../../lib/pypi-data.nix { inherit surface; };
  sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  pin = {
    url = "https://example.org/pypi/pypi-data-0123456789abcdef.tar.gz";
    inherit sha256;
    date = "2024-01-01T00:00:00Z";
    counts = { projects = 1; };
  };
  fetched = published.fetchPypiData pin;
  unpacks = script: builtins.length (builtins.split "tar -xzf /store/pypi-data.tar.gz-${sha256} -C" script) == 3;
in
{
  fetchesThePinnedTarball = { expr = [ fetched.name (unpacks fetched.script) ]; expected = [ "pypi-data" true ]; };
  urlAndSha256Suffice = {
    expr = unpacks (published.fetchPypiData { inherit (pin) url sha256; }).script;
    expected = true;
  };
  noPinFileMeansTheFallback = { expr = published.pinned ./no-such-pin.json "snapshot"; expected = "snapshot"; };
  aPinFileIsFetched = {
    expr = unpacks (published.pinned (builtins.toFile "pypi-data.json" (builtins.toJSON pin)) "snapshot").script;
    expected = true;
  };
}
