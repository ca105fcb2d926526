# The double's base package set: real PyPI artifacts (pinned URL + sha256), at versions that
# are deliberately *not* the newest, so tests can show a version being replaced inside the set.
# Shaped like nixpkgs' python-packages.nix: one attribute per PEP 503 name, built with
# buildPythonPackage from `self`, plus the odd cases of nixpkgs' set (README.md).
{ lib, buildSupport, stdenv, python, pkgs }:
self: super:
let
  inherit (buildSupport) fetchurl;
  pypi = path: sha256: fetchurl { url = "https://files.pythonhosted.org/packages/${path}"; inherit sha256; };

  # A pure-Python wheel from PyPI.
  wheelPackage = { pname, version, src, dependencies ? [ ], pythonImportsCheck ? [ ], ... }@args:
    self.buildPythonPackage (args // {
      format = "wheel";
      inherit dependencies pythonImportsCheck;
    });
  bootstrapWheel = args: self.bootstrap.installWheel args;
in
{
  # --- bootstrap: the tools the hooks themselves use ---
  installer = bootstrapWheel {
    pname = "installer"; version = "0.7.0";
    src = self.bootstrap.installerWheel;
  };
  packaging = bootstrapWheel {
    pname = "packaging"; version = "23.2";
    src = pypi "ec/1a/610693ac4ee14fcdf2d9bf3c493370e4f2ef7ae2e19217d7a237ff42367d/packaging-23.2-py3-none-any.whl"
      "8c491190033a9af7e1d931d0b5dacc2ef47509b34dd0de67ed209b5203fc88c7";
  };
  pyproject-hooks = bootstrapWheel {
    pname = "pyproject-hooks"; version = "1.0.0";
    src = pypi ("d5/ea/9ae603de7fbb3df820b23a70f6aff92bf8c7770043254ad8d2dc9d6bcba4/"
      + "pyproject_hooks-1.0.0-py3-none-any.whl")
      "283c11acd6b928d2f6a7c73fa0d01cb2bdc5f07c57a2eeb6e83d5e56b97976f8";
  };
  build = bootstrapWheel {
    pname = "build"; version = "1.0.3";
    src = pypi "93/dd/b464b728b866aaa62785a609e0dd8c72201d62c5f7c53e7c20f4dceb085f/build-1.0.3-py3-none-any.whl"
      "589bf99a67df7c9cf07ec0ac0e5e2ea5d4b37ac63301c4986d1acb126aa83f8f";
    dependencies = [ self.packaging self.pyproject-hooks ];
  };
  wheel = bootstrapWheel {
    pname = "wheel"; version = "0.42.0";
    src = pypi "c7/c3/55076fc728723ef927521abaa1955213d094933dc36d4a2008d5101e1af5/wheel-0.42.0-py3-none-any.whl"
      "177f9c9b0d45c47873b619f5b650346d632cdc35fb5e4d25058e09c9e581433d";
  };
  flit-core = bootstrapWheel {
    pname = "flit-core"; version = "3.9.0";
    src = pypi "38/45/618e84e49a6c51e5dd15565ec2fcd82ab273434f236b8f108f065ded517a/flit_core-3.9.0-py3-none-any.whl"
      "7aada352fb0c7f5538c4fafeddf314d3a6a92ee8e2b1de70482329e42de70301";
  };

  # --- ordinary packages ---
  setuptools = wheelPackage {
    pname = "setuptools"; version = "69.0.3";
    src = pypi "55/3a/5121b58b578a598b269537e09a316ad2a94fdd561a2c6eb75cd68578cc6b/setuptools-69.0.3-py3-none-any.whl"
      "385eb4edd9c9d5c17540511303e39a147ce2fc04bc55289c322b9e5904fe2c05";
    pythonImportsCheck = [ "setuptools" ];
  };
  certifi = wheelPackage {
    pname = "certifi"; version = "2023.11.17";
    src = pypi "64/62/428ef076be88fa93716b576e4a01f919d25968913e817077a386fcbe4f42/certifi-2023.11.17-py3-none-any.whl"
      "e036ab49d5b79556f99cfc2d9320b34cfbe5be05c5871b51de9329f0603b0474";
    pythonImportsCheck = [ "certifi" ];
  };
  idna = wheelPackage {
    pname = "idna"; version = "3.6";
    src = pypi "c2/e7/a82b05cf63a603df6e68d59ae6a68bf5064484a0718ea5033660af4b54a9/idna-3.6-py3-none-any.whl"
      "c05567e9c24a6b9faaa835c4821bad0590fbb9d5779e7caa6e1cc4978e7eb24f";
    pythonImportsCheck = [ "idna" ];
  };
  urllib3 = wheelPackage {
    pname = "urllib3"; version = "2.1.0";
    src = pypi "96/94/c31f58c7a7f470d5665935262ebd7455c7e4c7782eb525658d3dbf4b9403/urllib3-2.1.0-py3-none-any.whl"
      "55901e917a5896a349ff771be919f8bd99aff50b79fe58fec595eb37bbc56bb3";
    pythonImportsCheck = [ "urllib3" ];
  };
  # A versioned variant sharing the pname (like django_4, pydantic_1).
  urllib3_1 = wheelPackage {
    pname = "urllib3"; version = "1.26.18";
    src = pypi "b0/53/aa91e163dcfd1e5b82d8a890ecf13314e3e149c05270cc644581f77f17fd/urllib3-1.26.18-py2.py3-none-any.whl"
      "34b97092d7e0a3a8cf7cd10e386f401b3737364026c45e622aa02903dffe0f07";
  };
  charset-normalizer = self.buildPythonPackage {
    pname = "charset-normalizer"; version = "3.3.2";
    format = "wheel";
    src = pypi ("40/26/f35951c45070edc957ba40a5b1db3cf60a9dbb1b350c2d5bef03e01e61de/"
      + "charset_normalizer-3.3.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
      "753f10e867343b4511128c6ed8c82f7bec3bd026875576dfd88483c5c73b2fd8";
    nativeBuildInputs = [ pkgs.autoPatchelfHook ];
    pythonImportsCheck = [ "charset_normalizer" ];
  };
  # Defined through callPackage, as nixpkgs does: `requests.override { idna = …; }` swaps an input.
  requests = self.callPackage ({ buildPythonPackage, charset-normalizer, idna, urllib3, certifi }:
    buildPythonPackage {
      pname = "requests"; version = "2.31.0";
      format = "wheel";
      src = pypi "70/8e/0e2d847013cb52cd35b38c009bb167a1a26b2ce6cd6965bf26b47bc0bf44/requests-2.31.0-py3-none-any.whl"
        "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f";
      dependencies = [ charset-normalizer idna urllib3 certifi ];
      pythonImportsCheck = [ "requests" ];
      meta.description = "HTTP library for Python";
    }) { };
  # Built from the real sdist (pyproject build with setuptools as the build system).
  six = self.buildPythonPackage {
    pname = "six"; version = "1.16.0";
    pyproject = true;
    src = pypi "71/39/171f1c67cd00715f190ba0b100d606d440a28c93c7714febeca8b79af85e/six-1.16.0.tar.gz"
      "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926";
    build-system = [ self.setuptools ];
    pythonImportsCheck = [ "six" ];
  };
  # A binary variant sharing the pname (like torch-bin, jaxlib-bin).
  six-bin = wheelPackage {
    pname = "six"; version = "1.16.0";
    src = pypi "d9/5a/e7c31adbe875f2abbb91bd84cf2dc52d792b5a01506781dbcf25c91daf11/six-1.16.0-py2.py3-none-any.whl"
      "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254";
  };
  # Needs a native library from outside the wheel (libstdc++): autoPatchelfHook + stdenv.cc.cc.lib.
  greenlet = self.buildPythonPackage {
    pname = "greenlet"; version = "3.0.3";
    format = "wheel";
    src = pypi ("c6/1f/12d5a6cc26e8b483c2e7975f9c22e088ac735c0d8dcb8a8f72d31a4e5f04/"
      + "greenlet-3.0.3-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl")
      "b7f009caad047246ed379e1c4dbcb8b020f0a390667ea74d2387be2998f58a22";
    nativeBuildInputs = [ pkgs.autoPatchelfHook ];
    buildInputs = [ (lib.getLib stdenv.cc.cc) ];
    pythonImportsCheck = [ "greenlet" ];
  };
  resolvelib = wheelPackage {
    pname = "resolvelib"; version = "1.0.1";
    src = pypi ("d2/fc/e9ccf0521607bcd244aa0b3fbd574f71b65e9ce6a112c83af988bbbe2e23/"
      + "resolvelib-1.0.1-py2.py3-none-any.whl")
      "d2da45d1a8dfee81bdd591647783e340ef3bcb104b54c383f70d422ef5cc7dbf";
    pythonImportsCheck = [ "resolvelib" ];
  };
  distlib = wheelPackage {
    pname = "distlib"; version = "0.3.8";
    src = pypi "8e/41/9307e4f5f9976bc8b7fea0b66367734e8faf3ec84bc0d412d8cfabbb66cd/distlib-0.3.8-py2.py3-none-any.whl"
      "034db59a0b96f8ca18035f36290806a9a6e6bd9d1ff91e45a7f172eb17e51784";
    pythonImportsCheck = [ "distlib" ];
  };

  # --- recipes shaped like nixpkgs' troublemakers ---
  # Extra outputs filled by postInstall from the source tree (nixpkgs' attrs and pytest
  # copy their tests into `testout`); `dist` is appended by buildPythonPackage.
  attrs = self.buildPythonPackage {
    pname = "attrs"; version = "21.4.0";
    pyproject = true;
    src = pypi "d7/77/ebb15fc26d0f815839ecd897b919ed6d85c050feeb83e100e020df9153d2/attrs-21.4.0.tar.gz"
      "626ba8234211db98e869df76230a137c4c40a12d72445c45d5f5b716f076e2fd";
    build-system = [ self.setuptools ];
    outputs = [ "out" "testout" ];
    postInstall = ''
      mkdir $testout
      cp -R conftest.py tests $testout
    '';
    pythonImportsCheck = [ "attr" ];
  };

  # Marked broken (nixpkgs marks a recipe broken when *its* build or tests fail).
  locket = self.buildPythonPackage {
    pname = "locket"; version = "0.2.0";
    pyproject = true;
    src = pypi "d0/22/3c0f97614e0be8386542facb3a7dcfc2584f7b83608c02333bced641281c/locket-0.2.0.tar.gz"
      "1fee63c1153db602b50154684f5725564e63a0f6d09366a1cb13dffcec179fb4";
    build-system = [ self.setuptools ];
    meta.broken = true;
  };
  # Disabled for this interpreter (not yet ported): newest nixpkgs turns it into
  # meta.problems.unsupportedPython, which check-meta refuses.
  first = self.buildPythonPackage {
    pname = "first"; version = "2.0.1";
    format = "wheel";
    disabled = python.pythonAtLeast "3.11";
    src = pypi "71/12/1b24a85f543658804027de982f7e5cb80543ea33ec396c887c099c75274c/first-2.0.1-py2.py3-none-any.whl"
      "41d5b64e70507d0c3ca742d68010a76060eea8a3d863e9b5130ab11a4a91aa0e";
  };

  # A patch that injects the absolute path of a native library (as cairocffi's
  # dlopen-paths.patch does with replaceVars), the library also propagated, and pytest as
  # the check hook.
  toolz = self.buildPythonPackage {
    pname = "toolz"; version = "0.12.0";
    pyproject = true;
    src = pypi "cf/05/2008534bbaa716b46a2d795d7b54b999d0f7638fbb9ed0b6e87bfa934f84/toolz-0.12.0.tar.gz"
      "88c570861c440ee3f2f6037c4654613228ff40c93a6c25e0eba70d17282c6194";
    patches = [ (buildSupport.replaceVars ./patches/toolz-library-paths.patch { zlib = pkgs.zlib; }) ];
    build-system = [ self.setuptools ];
    propagatedBuildInputs = [ pkgs.zlib ];
    nativeCheckInputs = [ self.pytestCheckHook ];
    doCheck = false;
    pythonImportsCheck = [ "toolz" "toolz._nixpkgs_paths" ];
  };
  # Not a buildPythonPackage: a plain (CMake-style) derivation made a module with
  # toPythonModule, as nixpkgs' gdal, gdcm, geant4 are. It has no overridePythonAttrs.
  termcolor = self.toPythonModule (stdenv.mkDerivation {
    pname = "termcolor"; version = "1.1.0";
    src = pypi "8a/48/a76be51647d0eb9f10e2a4511bf3ffb8cc1e6b14e9e4fab46173aa79f981/termcolor-1.1.0.tar.gz"
      "1d6d69ce66211143803fbc56652b41d73b4a400a2891d7bf7a1cdf4c02de613b";
    nativeBuildInputs = [ pkgs.cmake ];
    # (termcolor's sdist is not a CMake tree: the double's recipe makes it one.)
    postUnpack = "echo 'project(termcolor)' > $sourceRoot/CMakeLists.txt";
    installPhase = ''
      mkdir -p $out/${python.sitePackages}
      cp ../termcolor.py $out/${python.sitePackages}/
    '';
  });
  # A Rust extension in the `finalAttrs` style: its vendored crates are computed from the
  # final `src` with the hash of its own version (nixpkgs' rpds-py, pydantic-core, orjson).
  # Only its shape matters: the double has no Rust toolchain to build it.
  rpds-py = self.buildPythonPackage (finalAttrs: {
    pname = "rpds-py"; version = "0.18.0";
    pyproject = true;
    src = pypi "55/ba/ce7b9f0fc5323f20ffdf85f682e51bee8dc03e9b54503939ebb63d1d0d5e/rpds_py-0.18.0.tar.gz"
      "42821446ee7a76f5d9f71f9e33a4fb2ffd724bb3e7f93386150b61a43115788d";
    cargoDeps = pkgs.rustPlatform.fetchCargoVendor {
      inherit (finalAttrs) pname version src;
      hash = "sha256-Nhx2dmyHJsWBAsaLvz1Mlv6L1y+bq4kWtEH+L/jzs3A=";
    };
    nativeBuildInputs = [ pkgs.rustPlatform.cargoSetupHook pkgs.rustPlatform.maturinBuildHook ];
    pythonImportsCheck = [ "rpds" ];
  });
  # pythonRelaxDeps: nixpkgs' relax hook rewrites every wheel's METADATA after the build,
  # parsing it strictly (packaging.metadata).
  pickleshare = self.buildPythonPackage {
    pname = "pickleshare"; version = "0.7.4";
    pyproject = true;
    src = pypi "69/fe/dd137d84daa0fd13a709e448138e310d9ea93070620c9db5454e234af525/pickleshare-0.7.4.tar.gz"
      "84a9257227dfdd6fe1b4be1319096c20eb85ff1e82c7932f36efccfe1b09737b";
    build-system = [ self.setuptools ];
    pythonRelaxDeps = [ "pathlib2" ];
  };
  # An attribute whose name is not the PyPI name (nixpkgs' pygobject3 is pygobject).
  decorator5 = wheelPackage {
    pname = "decorator"; version = "5.1.1";
    src = pypi "d5/50/83c593b07763e1161326b3b8c6686f0f4b0f24d5526546bee538c89837d6/decorator-5.1.1-py3-none-any.whl"
      "b8c3f85900b9dc423225913c5aace94729fe1fa9763b38939a95226f02d37186";
    pythonImportsCheck = [ "decorator" ];
  };
  # The project an alias (path-py) redirects to.
  path = wheelPackage {
    pname = "path"; version = "16.10.0";
    src = pypi "0e/a8/68e6d2f261bc606d944fec81cbbb42d622d2d677359868ef4e9bdb7a6243/path-16.10.0-py3-none-any.whl"
      "902afa16e63943c1d6f14d9f74a6603beaa56980807e0234098256fd0ac33fed";
    pythonImportsCheck = [ "path" ];
  };

  # A build tool with a runtime dependency (sdists using it pull typing-extensions into the
  # build, as hatchling does pluggy): built from the set, like every nixpkgs package.
  setuptools-scm = wheelPackage {
    pname = "setuptools-scm"; version = "8.0.4";
    src = pypi ("0e/a3/b9a8b0adfe672bf0df5901707aa929d30a97ee390ba651910186776746d2/"
      + "setuptools_scm-8.0.4-py3-none-any.whl")
      "b47844cd2a84b83b3187a5782c71128c28b4c94cad8bfb871da2784a5cb54c4f";
    dependencies = [ self.packaging self.setuptools self.typing-extensions ];
    pythonImportsCheck = [ "setuptools_scm" ];
  };
  # A build tool of the sdists with C extensions (shapely, pyproj, fiona): Cython's pure
  # wheel (nixpkgs' attribute is `cython`).
  cython = wheelPackage {
    pname = "cython"; version = "3.0.11";
    src = pypi ("43/39/bdbec9142bc46605b54d674bf158a78b191c2b75be527c6dcf3e6dfe90b8/"
      + "Cython-3.0.11-py2.py3-none-any.whl")
      "0e25f6425ad4a700d7f77cd468da9161e63658837d1bc34861a9861a4ef6346d";
    pythonImportsCheck = [ "Cython" ];
  };
  typing-extensions = wheelPackage {
    pname = "typing-extensions"; version = "4.9.0";
    src = pypi ("b7/f4/6a90020cd2d93349b442bfcb657d0dc91eee65491600b2cb1d388bc98e6b/"
      + "typing_extensions-4.9.0-py3-none-any.whl")
      "af72aea155e91adfc61c3ae9e0e342dbc0cba726d6cba4b6c72c1f34e47291cd";
    pythonImportsCheck = [ "typing_extensions" ];
  };

  # --- the odd cases of nixpkgs' set ---
  # Disabled for this interpreter: pname/version readable, outPath/drvPath throw.
  futures = self.buildPythonPackage {
    pname = "futures"; version = "3.4.0";
    format = "wheel";
    disabled = python.isPy3k;
    src = pypi "00/00/0000000000000000000000000000000000000000000000000000000000/futures-3.4.0-py2-none-any.whl"
      "0000000000000000000000000000000000000000000000000000000000000000";
  };
  # A package whose evaluation fails.
  brokenpkg = throw "brokenpkg: this attribute fails to evaluate (as some nixpkgs attributes do)";
}
