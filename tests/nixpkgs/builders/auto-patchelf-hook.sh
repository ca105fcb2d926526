# autoPatchelfHook (double): after fixup, point every ELF file's RUNPATH at the libraries
# it needs, found in the package itself, in the `lib/` of its buildInputs, or in the
# directories given to addAutoPatchelfSearchPath.
declare -a extraAutoPatchelfLibs

# nixpkgs: every directory under the arguments (recursively, unless --no-recurse) that
# holds a *.so or *.so.* file is searched by the next autoPatchelf run.
addAutoPatchelfSearchPath() {
    local -a findOpts=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --) shift; break ;;
            --no-recurse) shift; findOpts+=(-maxdepth 1) ;;
            --*) echo "addAutoPatchelfSearchPath: ERROR: Invalid command line argument: $1" >&2; return 1 ;;
            *) break ;;
        esac
    done
    local dir
    while IFS= read -r -d '' dir; do
        extraAutoPatchelfLibs+=("$dir")
    done < <(find "$@" "${findOpts[@]}" \! -type d \( -name '*.so' -o -name '*.so.*' \) -printf '%h\0' | sort -zu)
}

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
        --libs $searchLibs "${extraAutoPatchelfLibs[@]}" \
        --runtime-dependencies ${runtimeDependencies-} \
        --append-runpaths ${appendRunpaths-} \
        --ignore-missing ${autoPatchelfIgnoreMissingDeps-}
}
postFixupHooks+=(autoPatchelfPostFixup)
