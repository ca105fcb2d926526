# cmake's setup hook (double): configurePhase becomes a CMake configure in build/, which
# needs the CMakeLists.txt of a CMake source tree (nixpkgs: cmake/setup-hook.sh).
cmakeConfigurePhase() {
    runHook preConfigure
    if [ ! -f CMakeLists.txt ]; then
        echo "CMake Error: The source directory \"$PWD\" does not appear to contain CMakeLists.txt." >&2
        exit 1
    fi
    mkdir -p build
    cd build
    runHook postConfigure
}
if [ -z "${dontUseCmakeConfigure-}" ] && [ -z "${configurePhase-}" ]; then
    configurePhase=cmakeConfigurePhase
fi
