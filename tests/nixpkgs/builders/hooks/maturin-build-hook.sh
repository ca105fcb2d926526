# maturinBuildHook (double): the build phase runs maturin, which needs a Rust toolchain the
# double does not have (nixpkgs: rust/hooks/maturin-build-hook.sh).
maturinBuildPhase() {
    echo "maturinBuildHook: the nixpkgs double has no Rust toolchain" >&2
    exit 1
}
if [ -z "${dontUseMaturinBuild-}" ] && [ -z "${buildPhase-}" ]; then
    buildPhase=maturinBuildPhase
fi
