# wheelUnpackHook (double): the "source" is the wheel itself, copied to dist/ under its
# store name minus the hash (which must therefore be a valid wheel file name). As in
# nixpkgs, it neither sets sourceRoot nor runs postUnpack.
wheelUnpackPhase() {
    runHook preUnpack
    mkdir -p dist
    cp "$src" "dist/$(stripHash "$src")"
    chmod u+w dist/*
}
if [ -z "${dontUseWheelUnpack-}" ] && [ -z "${unpackPhase-}" ]; then
    unpackPhase=wheelUnpackPhase
fi
