# pypaInstallHook (double): install every dist/*.whl with pypa/installer into $out;
# copy the wheels to the `dist` output.
pypaInstallPhase() {
    runHook preInstall
    local wheel
    for wheel in dist/*.whl; do
        @pythonInterpreter@ -m installer --prefix "$out" "$wheel"
        echo "Successfully installed $wheel"
    done
    if [ -n "${dist-}" ]; then
        mkdir -p "$dist"
        cp dist/*.whl "$dist/"
    fi
    export PYTHONPATH="$out/@pythonSitePackages@${PYTHONPATH:+:$PYTHONPATH}"
    runHook postInstall
}
if [ -z "${dontUsePypaInstall-}" ] && [ -z "${installPhase-}" ]; then
    installPhase=pypaInstallPhase
fi
