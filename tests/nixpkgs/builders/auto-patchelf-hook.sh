# autoPatchelfHook (double): after fixup, point every ELF file's RUNPATH at the libraries
# it needs, found in the package itself or in the `lib/` of its buildInputs.
autoPatchelfPostFixup() {
    if [ -n "${dontAutoPatchelf-}" ]; then return 0; fi
    local searchLibs="" dep
    for dep in ${buildInputs-} ${propagatedBuildInputs-}; do
        if [ -d "$dep/lib" ]; then searchLibs="$searchLibs $dep/lib"; fi
    done
    for dep in ${runtimeDependencies-}; do
        searchLibs="$searchLibs $dep/lib"
    done
    local outputPaths="" output
    for output in $outputs; do outputPaths="$outputPaths ${!output}"; done
    @python@ @autoPatchelf@ \
        --patchelf @patchelf@ \
        --paths $outputPaths \
        --libs $searchLibs \
        --runtime-dependencies ${runtimeDependencies-} \
        --append-runpaths ${appendRunpaths-} \
        --ignore-missing ${autoPatchelfIgnoreMissingDeps-}
}
postFixupHooks+=(autoPatchelfPostFixup)
