# pythonRuntimeDepsCheckHook (double): every non-extra Requires-Dist of the built wheel
# must be importable, at a matching version, in the build environment.
pythonRuntimeDepsCheckHook() {
    if [ -n "${dontCheckRuntimeDeps-}" ]; then return 0; fi
    echo "Executing pythonRuntimeDepsCheck"
    local wheel
    for wheel in dist/*.whl; do
        PYTHONPATH="$out/@pythonSitePackages@${PYTHONPATH:+:$PYTHONPATH}" \
            @pythonInterpreter@ @checkScript@ "$wheel"
    done
}
preInstallPhases+=" pythonRuntimeDepsCheckHook"
