# Bootstrap installs for the double: a wheel installed with pypa/installer run from its own
# wheel file on PYTHONPATH (nixpkgs: python/bootstrap/*), for the packages the hooks need.
{ lib, stdenv, buildSupport, python, toPythonModule, requiredPythonModules }:
let
  installerWheel = buildSupport.fetchurl {
    url = "https://files.pythonhosted.org/packages/e5/ca/1172b6638d52f2d6caa2dd262ec4c811ba59eee96d54a7701930726bce18/"
      + "installer-0.7.0-py3-none-any.whl";
    sha256 = "05d1933f0a5ba7d8d6296bb6d5018e7c94fa473ceb10cf198a92ccea19c27b53";
  };
  # Install one wheel without any hook from the package set.
  installWheel = { pname, version, src, dependencies ? [ ], passthru ? { } }:
    toPythonModule (stdenv.mkDerivation {
      name = "${python.libPrefix}-${pname}-${version}";
      inherit pname version src;
      nativeBuildInputs = [ python ];
      propagatedBuildInputs = dependencies ++ [ python ];
      dontUnpack = true;
      installPhase = ''
        cp "$src" "$(stripHash "$src")"
        PYTHONPATH=${installerWheel} ${python.interpreter} -m installer --prefix "$out" "$(stripHash "$src")"
      '';
      passthru = { inherit python; } // passthru;
    });
in
{
  inherit installWheel installerWheel;
}
