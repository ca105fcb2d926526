# The double's stdenv: `mkDerivation` over real `builtins.derivation` calls, run by the
# host's bash with setup.sh (a subset of nixpkgs' generic stdenv), plus `cc.cc.lib`.
{ lib, host, config }:
let
  system = host.system;
  platform = {
    inherit system;
    isLinux = builtins.match ".*-linux" system != null;
    isDarwin = builtins.match ".*-darwin" system != null;
  };

  # A minimal check-meta (nixpkgs: pkgs/stdenv/generic/check-meta.nix): why a package may
  # not be evaluated, or null. Refused packages keep their attributes (pname, version,
  # meta) but throw on drvPath/outPath, as nixpkgs' do.
  problemOf = attrs:
    let
      meta = attrs.meta or { };
      name = attrs.name or "${attrs.pname or "«name-missing»"}-${attrs.version or ""}";
      pname = attrs.pname or name;
      licenses = lib.toList (meta.license or [ ]);
      handlers = (config.problems or { }).handlers or { };
      refusedProblems = builtins.filter
        (p: ((handlers.${pname} or { }).${p} or "error") == "error")
        (builtins.attrNames (meta.problems or { }));
      onPlatform = builtins.elem system (meta.platforms or [ system ])
        && !(builtins.elem system (meta.badPlatforms or [ ]));
      refuse = why: "Package ‘${name}’ ${why}, refusing to evaluate.";
    in
    if (meta.broken or false) && !(config.allowBroken or false) then refuse "is marked as broken"
    else if !onPlatform && !(config.allowUnsupportedSystem or false)
    then refuse "is not available on the requested hostPlatform (${system})"
    else if builtins.any (l: !(l.free or true)) licenses && !(config.allowUnfree or false)
    then refuse "has an unfree license"
    else if (meta.knownVulnerabilities or [ ]) != [ ] then refuse "is marked as insecure"
    else if refusedProblems != [ ] then refuse "has problems: ${builtins.concatStringsSep ", " refusedProblems}"
    else null;

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
    mkdir -p $out/bin
    sed -e "s|@hostPath@|${host.path}|g" -e "s|@hostPython@|${host.python}|g" ${./setup.sh} > $out/setup
    # The compiler wrappers (../builders/cc_wrapper.py): $CC and $CXX of every build.
    for pair in cc:gcc gcc:gcc c++:g++ g++:g++; do
      printf '#!%s\nNIX_CC_LIB=%s exec %s %s %s "$@"\n' \
        ${host.bash} ${ccLib}/lib ${host.python} ${../builders/cc_wrapper.py} \
        "$(PATH=${host.path} command -v "''${pair#*:}" || echo /usr/bin/''${pair#*:})" > $out/bin/''${pair%%:*}
      chmod +x $out/bin/''${pair%%:*}
    done
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
          problem = problemOf attrs;
          result = drv // passthru // {
            meta = (attrs.meta or { }) // { available = problem == null; };
            inherit passthru overrideAttrs;
          } // lib.optionalAttrs (attrs ? pname) { inherit (attrs) pname; }
            // lib.optionalAttrs (attrs ? version) { inherit (attrs) version; };
        in
        lib.extendDerivation (problem == null || throw problem) { } result;
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
  hostPlatform = platform;
  buildPlatform = platform;
  targetPlatform = platform;
  inherit system;
  inherit (platform) isLinux isDarwin;
  shell = host.bash;
  cc = {
    cc = ccLib // { lib = ccLib; };
    # nixpkgs: the C library the toolchain links against (glibc on Linux).
    libc = hostCommand "glibc-double" "mkdir $out" // { pname = "glibc"; version = host.glibc; };
  };
  outPath = stdenvDir.outPath;
}
