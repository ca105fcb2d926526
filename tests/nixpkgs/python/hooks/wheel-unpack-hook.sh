# wheelUnpackHook (double): the "source" is the wheel itself, copied to dist/ under its
# store name minus the hash (which must therefore be a valid wheel file name).
wheelUnpackPhase() {
    runHook preUnpack
    mkdir -p dist
    cp "$src" "dist/$(stripHash "$src")"
    chmod u+w dist/*
    sourceRoot=.
    runHook postUnpack
}
if [ -z "${dontUseWheelUnpack-}" ] && [ -z "${unpackPhase-}" ]; then
    unpackPhase=wheelUnpackPhase
fi
