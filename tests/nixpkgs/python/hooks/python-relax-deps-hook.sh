# pythonRelaxDepsHook (double): after the build, drop version bounds (pythonRelaxDeps) or
# whole lines (pythonRemoveDeps) from the Requires-Dist of every wheel in dist/.
pythonRelaxDepsHook() {
    local wheel
    for wheel in dist/*.whl; do
        @pythonInterpreter@ @relaxScript@ "$wheel" "${pythonRelaxDeps-}" "${pythonRemoveDeps-}"
    done
}
postBuildHooks+=(pythonRelaxDepsHook)
