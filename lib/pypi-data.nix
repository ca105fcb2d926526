# Published PyPI databases (`mach-nix db publish`): fetch a release by its pin, and choose the
# default database from a pin file. Evaluation stays pure: the tarball is a fixed-output fetch.
{ surface }:
rec {
  /* A published database: the graph-only tarball a pin names, fetched by its sha256 and unpacked.
     Takes a pin as `db publish` writes it (`builtins.fromJSON` of `pypi-data.json`) or just
     { url; sha256; }. Its file-index shards are fetched later, one fixed-output fetch each.

     Type: fetchPypiData :: { url :: String, sha256 :: String, ... } -> Derivation */
  fetchPypiData = { url, sha256, ... }:
    let
      tarball = surface.fetchurl { inherit url sha256; name = "pypi-data.tar.gz"; };
    in
    surface.runCommand "pypi-data" { } ''
      mkdir -p $out
      tar -xzf ${tarball} -C $out --strip-components=1
    '';

  /* The database the pin file `pinFile` names, or `fallback` when there is no such file.

     Type: pinned :: Path -> (Path | Derivation) -> Path | Derivation */
  pinned = pinFile: fallback:
    if builtins.pathExists pinFile then fetchPypiData (builtins.fromJSON (builtins.readFile pinFile)) else fallback;
}
