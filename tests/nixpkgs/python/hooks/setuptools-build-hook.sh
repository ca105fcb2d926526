# setuptoolsBuildHook (double): legacy `format = "setuptools"`: setup.py bdist_wheel.
setuptoolsBuildPhase() {
    runHook preBuild
    cp -f @setuppy@ nix_run_setup
    @pythonInterpreter@ nix_run_setup ${setupPyGlobalFlags-} bdist_wheel --dist-dir dist ${setupPyBuildFlags-}
    runHook postBuild
}
if [ -z "${dontUseSetuptoolsBuild-}" ] && [ -z "${buildPhase-}" ]; then
    buildPhase=setuptoolsBuildPhase
fi
