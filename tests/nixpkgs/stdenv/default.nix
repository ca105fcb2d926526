# The double's stdenv: `mkDerivation` over real `builtins.derivation` calls, run by the
# host's bash with setup.sh (a subset of nixpkgs' generic stdenv), plus `cc.cc.lib`.
{ lib, host }:
let
  system = host.system;

  # A derivation built by a bash script with the host's tools (no stdenv: it is made here).
  # The script ends with a builtin: bash would otherwise exec the last external command,
  # which Nix 2.8 then reports as killed by signal 9.
  hostCommand = name: script: derivation {
    inherit name system;
    builder = host.bash;
    args = [ "-c" "set -e\nPATH=${host.path}\n${script}\n:\n" ];
  };

  # The `stdenv` store path: contains `setup`, as nixpkgs' does (nix-shell sources it).
  stdenvDir = hostCommand "stdenv-double" ''
    mkdir -p $out
    sed -e "s|@hostPath@|${host.path}|g" -e "s|@hostPython@|${host.python}|g" ${./setup.sh} > $out/setup
  '';

  # Names a derivation attribute may hold that are not passed to the builder.
  nonDrvAttrs = [ "meta" "passthru" "pos" "env" ];

  # mkDerivation: attrs or (finalAttrs: attrs), like nixpkgs. The result is the derivation with
  # `passthru` merged in, `meta`, and `overrideAttrs` (which re-runs mkDerivation with merged attrs).
  mkDerivation = fnOrAttrs:
    let
      attrsFn = if builtins.isFunction fnOrAttrs then fnOrAttrs else (_: fnOrAttrs);
      finalAttrs = attrsFn finalAttrs;
      make = attrsFn':
        let
          attrs = lib.fix attrsFn';
          outputs = attrs.outputs or [ "out" ];
          name = attrs.name or "${attrs.pname}-${attrs.version}";
          drvAttrs = builtins.removeAttrs attrs nonDrvAttrs // (attrs.env or { }) // {
            inherit name outputs system;
            builder = attrs.realBuilder or host.bash;
            args = attrs.args or [ "-e" ./default-builder.sh ];
            stdenv = stdenvDir;
          };
          drv = derivation drvAttrs;
          passthru = attrs.passthru or { };
          overrideAttrs = f:
            let
              f' = final: prev:
                let r = f prev; in if builtins.isFunction r then f final prev else r;
            in make (lib.extends f' attrsFn');
          result = drv // passthru // {
            meta = { available = true; broken = false; } // (attrs.meta or { });
            inherit passthru overrideAttrs;
          } // lib.optionalAttrs (attrs ? pname) { inherit (attrs) pname; }
            // lib.optionalAttrs (attrs ? version) { inherit (attrs) version; };
        in result;
    in make (self: attrsFn self);

  ccLib = hostCommand "gcc-lib-double" ''
    mkdir -p $out/lib
    ${lib.concatStringsSep "\n" (builtins.attrValues (builtins.mapAttrs
      (soname: path: "ln -s ${path} $out/lib/${soname}") host.ccLibs))}
  '';
in
{
  inherit mkDerivation;
  stdenvPath = stdenvDir;
  hostPlatform = { inherit system; isLinux = true; isDarwin = false; };
  buildPlatform = { inherit system; isLinux = true; isDarwin = false; };
  targetPlatform = { inherit system; isLinux = true; isDarwin = false; };
  inherit system;
  isLinux = true;
  isDarwin = false;
  shell = host.bash;
  cc = { cc = ccLib // { lib = ccLib; }; };
  outPath = stdenvDir.outPath;
}
