# pypaBuildHook (double): build a wheel with pypa/build, without isolation, into dist/.
pypaBuildPhase() {
    runHook preBuild
    echo "Creating a wheel..."
    @pythonInterpreter@ -m build --no-isolation --outdir dist/ --wheel ${pypaBuildFlags-}
    echo "Finished creating a wheel..."
    runHook postBuild
}
if [ -z "${dontUsePypaBuild-}" ] && [ -z "${buildPhase-}" ]; then
    buildPhase=pypaBuildPhase
fi
