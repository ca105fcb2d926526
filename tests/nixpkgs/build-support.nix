# Build helpers of the double: fetchurl, trivial builders, setup hooks, mkShell,
# autoPatchelfHook, dockerTools. Signatures follow nixpkgs (docs/nixpkgs-contract.md).
{ lib, host, stdenv }:
let
  system = host.system;

  # nixpkgs fetchurl: a fixed-output download (here Nix's builtin fetcher, as <nix/fetchurl.nix>).
  fetchurl =
    { url ? null
    , urls ? [ ]
    , name ? null
    , hash ? null
    , sha256 ? null
    , outputHash ? null
    , outputHashAlgo ? null
    , executable ? false
    , passthru ? { }
    , meta ? { }
    , ...
    }:
    let
      url' = if url != null then url else if urls != [ ] then builtins.head urls
        else throw "fetchurl requires either `url` or `urls` to be set";
      name' = if name != null then name else baseNameOf url';
      hashAttrs =
        if hash != null && hash != "" then { outputHash = hash; outputHashAlgo = ""; }
        else if sha256 != null && sha256 != "" then { outputHash = sha256; outputHashAlgo = "sha256"; }
        else if outputHash != null then {
          inherit outputHash;
          outputHashAlgo = if outputHashAlgo == null then "" else outputHashAlgo;
        }
        else throw "fetchurl requires a hash for fixed-output derivation: ${url'} (specify `hash` or `sha256`)";
      validName = builtins.match "[A-Za-z0-9+._?=-][A-Za-z0-9+._?=-]*" name' != null;
      drv = derivation ({
        name = name';
        builder = "builtin:fetchurl";
        system = "builtin";
        url = url';
        outputHashMode = if executable then "recursive" else "flat";
        inherit executable;
        unpack = false;
        preferLocalBuild = true;
        impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
      } // hashAttrs);
    in
    if !validName then
      throw ("fetchurl: the store name '${name'}' (from ${url'}) contains characters not allowed in a store path; "
        + "pass `name = \"<decoded file name>\";`")
    else drv // passthru // { inherit meta passthru; };

  writeTextFile = { name, text, executable ? false, destination ? "", checkPhase ? "" }:
    stdenv.mkDerivation {
      inherit name text checkPhase destination;
      executable = if executable then "1" else "";
      passAsFile = [ "text" ];
      preferLocalBuild = true;
      buildCommand = ''
        target="$out$destination"
        mkdir -p "$(dirname "$target")"
        cp "$textPath" "$target"
        if [ -n "$executable" ]; then chmod +x "$target"; fi
        eval "$checkPhase"
      '';
    };
  writeText = name: text: writeTextFile { inherit name text; };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeShellScript = name: text: writeTextFile {
    inherit name; executable = true;
    text = "#!${host.bash}\n${text}\n";
  };

  runCommand = name: env: buildCommand:
    stdenv.mkDerivation ({ inherit name buildCommand; preferLocalBuild = true; } // env);

  symlinkJoin = { name, paths, postBuild ? "", passthru ? { }, meta ? { }, ... }@args:
    stdenv.mkDerivation (builtins.removeAttrs args [ "paths" ] // {
      inherit name postBuild passthru meta;
      pathsToLink = paths;
      buildCommand = ''
        mkdir -p $out
        for p in $pathsToLink; do
          cp -rs --no-preserve=mode "$p/." "$out/"
        done
        eval "$postBuild"
      '';
    });

  # A derivation whose nix-support/setup-hook is `script` with @name@ substituted.
  makeSetupHook =
    { name, propagatedBuildInputs ? [ ], depsTargetTargetPropagated ? [ ], substitutions ? { }
    , passthru ? { }, meta ? { }
    }:
    script:
    (stdenv.mkDerivation {
      inherit name propagatedBuildInputs;
      substitutionsJSON = builtins.toJSON substitutions;
      inherit script;
      buildCommand = ''
        mkdir -p $out/nix-support
        ${host.python} - "$script" "$out/nix-support/setup-hook" <<'PYEOF'
        import json, os, sys
        text = open(sys.argv[1]).read()
        for key, value in json.loads(os.environ["substitutionsJSON"]).items():
            if isinstance(value, list):
                value = " ".join(map(str, value))
            text = text.replace("@" + key + "@", str(value))
        open(sys.argv[2], "w").write(text)
        PYEOF
        if [ -n "''${propagatedBuildInputs-}" ]; then
          echo $propagatedBuildInputs > $out/nix-support/propagated-build-inputs
        fi
      '';
      passthru = { provides.setupHook = true; } // passthru;
      inherit meta;
    });

  mkShell =
    { name ? "nix-shell"
    , packages ? [ ]
    , inputsFrom ? [ ]
    , buildInputs ? [ ]
    , nativeBuildInputs ? [ ]
    , propagatedBuildInputs ? [ ]
    , propagatedNativeBuildInputs ? [ ]
    , shellHook ? ""
    , ...
    }@attrs:
    let
      mergeInputs = attr: (attrs.${attr} or [ ]) ++
        builtins.filter (x: !(builtins.elem x inputsFrom)) (builtins.concatMap (drv: drv.${attr} or [ ]) inputsFrom);
      rest = builtins.removeAttrs attrs [ "name" "packages" "inputsFrom" "buildInputs" "nativeBuildInputs"
        "propagatedBuildInputs" "propagatedNativeBuildInputs" "shellHook" ];
    in
    stdenv.mkDerivation ({
      inherit name;
      buildInputs = mergeInputs "buildInputs";
      nativeBuildInputs = packages ++ mergeInputs "nativeBuildInputs";
      propagatedBuildInputs = mergeInputs "propagatedBuildInputs";
      propagatedNativeBuildInputs = mergeInputs "propagatedNativeBuildInputs";
      shellHook = lib.concatStringsSep "\n" (builtins.filter (s: s != "")
        (map (drv: drv.shellHook or "") inputsFrom ++ [ shellHook ]));
      phases = [ "buildPhase" ];
      buildPhase = ''
        { echo "------------------------------------------------------------";
          echo " WARNING: the existence of this path is not guaranteed.";
          echo " It is an internal implementation detail for pkgs.mkShell.";
          echo "------------------------------------------------------------";
          echo; export; } >> "$out"
      '';
      preferLocalBuild = true;
    } // rest);

  autoPatchelfHook = makeSetupHook {
    name = "auto-patchelf-hook";
    substitutions = {
      python = host.python;
      patchelf = host.patchelf;
      autoPatchelf = ./builders/auto_patchelf.py;
    };
  } ./builders/auto-patchelf-hook.sh;

  # A host library exposed as a package with lib/<soname>.
  hostLibrary = pname: soname: path: stdenv.mkDerivation {
    inherit pname;
    version = "host";
    buildCommand = ''
      mkdir -p $out/lib
      ln -s ${path} $out/lib/${soname}
    '';
  };

  # A host library as a nixpkgs package: lib/ (its sonames), include/ (its headers: a
  # directory named with a trailing `/` contributes its contents), share/ (data), bin/ (its
  # config tools, whose output names this package's store paths instead of /usr). Recorded
  # by configure.py; scripts/install-deps installs them.
  hostPackage = attr:
    let
      spec = host.packages.${attr} or (throw ("the nixpkgs double's `${attr}` wraps the host's library, which "
        + "configure.py did not find: run scripts/install-deps (it installs the Debian packages), then "
        + "python tests/nixpkgs/configure.py"));
      linkInclude = p: if lib.hasSuffix "/" p then "ln -s ${p}* $out/include/" else "ln -s ${p} $out/include/";
    in
    stdenv.mkDerivation {
      pname = attr;
      version = "host";
      buildCommand = ''
        mkdir -p $out/lib $out/include $out/share $out/bin
        ${lib.concatStringsSep "\n" (lib.mapAttrsToList (so: path: "ln -s ${path} $out/lib/${so}") spec.libs)}
        ${lib.concatStringsSep "\n" (map linkInclude spec.include)}
        ${lib.concatStringsSep "\n" (map (d: "ln -s ${d} $out/share/") spec.share)}
        ${lib.concatStringsSep "\n" (lib.mapAttrsToList (tool: path: ''
          cat > $out/bin/${tool} <<EOF
        #!${host.bash}
        ${path} "\$@" | sed -E -e 's#/usr/include/(gdal|postgresql)#$out/include#g' \\
          -e 's#/usr/include#$out/include#g' -e 's#/usr/lib/[a-z0-9_]+-linux-gnu#$out/lib#g' \\
          -e 's#/usr/share#$out/share#g' -e 's#/usr([^/a-z]|$)#$out\\1#g'
        EOF
          chmod +x $out/bin/${tool}
        '') spec.tools)}
      '';
    };

  dockerTools = import ./docker-tools.nix { inherit lib host stdenv writeText; };

  # nixpkgs' replaceVars: a copy of `src` with every @name@ of `vars` substituted; a name
  # that does not occur is an error.
  replaceVars = src: vars: stdenv.mkDerivation {
    name = baseNameOf (toString src);
    varsJSON = builtins.toJSON (builtins.mapAttrs (_: toString) vars);
    inherit src;
    buildCommand = ''
      ${host.python} - "$src" "$out" <<'PYEOF'
      import json, os, sys
      text = open(sys.argv[1]).read()
      for key, value in json.loads(os.environ["varsJSON"]).items():
          if "@" + key + "@" not in text:
              sys.exit(f"replaceVars: @{key}@ does not occur in {sys.argv[1]}")
          text = text.replace("@" + key + "@", value)
      open(sys.argv[2], "w").write(text)
      PYEOF
    '';
  };

  # Setup hooks of non-Python build systems (their phases take over a build).
  cmake = makeSetupHook { name = "cmake"; } ./builders/hooks/cmake-hook.sh;
  rustPlatform = {
    cargoSetupHook = makeSetupHook { name = "cargo-setup-hook"; } ./builders/hooks/cargo-setup-hook.sh;
    maturinBuildHook = makeSetupHook { name = "maturin-build-hook"; } ./builders/hooks/maturin-build-hook.sh;
    # The vendored crates of `src`: a fixed-output derivation. The double cannot fetch
    # crates, so only an output already in the store satisfies it.
    fetchCargoVendor = { src, hash, pname ? "source", version ? "", ... }: derivation {
      name = "${pname}-${version}-vendor";
      inherit system src;
      builder = host.bash;
      args = [ "-c" "echo 'fetchCargoVendor: the nixpkgs double cannot fetch crates' >&2; exit 1" ];
      outputHashMode = "recursive";
      outputHashAlgo = "";
      outputHash = hash;
    };
  };
in
{
  inherit fetchurl writeTextFile writeText writeScript writeShellScript runCommand symlinkJoin
    makeSetupHook mkShell autoPatchelfHook dockerTools replaceVars cmake rustPlatform;
  zlib = hostLibrary "zlib" "libz.so.1" host.zlib;
  libGL = hostPackage "libGL";
  glib = hostPackage "glib";
  xorg = lib.genAttrs [ "libX11" "libXext" "libXrender" "libSM" "libICE" "libxcb" ] hostPackage;
  # GCC's Fortran runtime, where nixpkgs has it: gfortran.cc.lib.
  gfortran = { cc = { lib = hostPackage "gfortran"; }; };
  geos = hostPackage "geos";
  proj = hostPackage "proj";
  gdal = hostPackage "gdal";
  libpq = hostPackage "libpq";
  # nixpkgs' addDriverRunpath: a setup hook whose `driverLink` is where NixOS puts the GPU
  # driver's libraries.
  addDriverRunpath = makeSetupHook { name = "add-driver-runpath-hook"; } ./builders/hooks/add-driver-runpath.sh
    // { driverLink = "/run/opengl-driver"; };
  openssl = hostLibrary "openssl" "libssl.so.3"
    "/usr/lib/${if system == "aarch64-linux" then "aarch64" else "x86_64"}-linux-gnu/libssl.so.3";
}
