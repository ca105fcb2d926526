# dockerTools of the double: buildLayeredImage writes a real docker-archive (.tar.gz):
# one layer per store path of the contents' closure (up to maxLayers), a config with
# `config` (Cmd, Env, …), and manifest.json, readable by `docker load` and by tests.
{ lib, host, stdenv, writeText }:
let
  buildLayeredImage =
    { name
    , tag ? null
    , fromImage ? null
    , contents ? [ ]
    , config ? { }
    , architecture ? (if host.system == "aarch64-linux" then "arm64" else "amd64")
    , created ? "1970-01-01T00:00:01Z"
    , mtime ? "1970-01-01T00:00:01Z"
    , uid ? 0
    , gid ? 0
    , uname ? "root"
    , gname ? "root"
    , maxLayers ? 100
    , extraCommands ? ""
    , fakeRootCommands ? ""
    , enableFakechroot ? false
    , includeStorePaths ? true
    , includeNixDB ? false
    , meta ? { }
    , passthru ? { }
    , compressor ? "gz"
    }:
    assert maxLayers > 1;
    let
      contentsList = lib.toList contents;
      imageConfig = writeText "${baseNameOf name}-config.json" (builtins.toJSON {
        inherit architecture created config;
        os = "linux";
      });
      imageTag = if tag != null then tag
        else builtins.head (builtins.split "-" (baseNameOf (builtins.unsafeDiscardStringContext imageConfig.outPath)));
      image = stdenv.mkDerivation {
        name = "${baseNameOf name}.tar.gz";
        exportReferencesGraph = builtins.concatLists (lib.imap0 (i: c: [ "closure-${toString i}" c ]) contentsList);
        contentsPaths = contentsList;
        imageName = name;
        inherit imageTag maxLayers extraCommands;
        configFile = imageConfig;
        includeStorePaths = if includeStorePaths then "1" else "";
        buildCommand = ''
          ${host.python} ${./builders/docker_image.py} "$out"
        '';
      };
    in
    image // passthru // { inherit imageTag meta; imageName = name; };
in
{
  inherit buildLayeredImage;
}
