# pytestCheckHook (double): run pytest as the install check.
pytestCheckPhase() {
    runHook preCheck
    @pythonInterpreter@ -m pytest ${pytestFlagsArray-}
    runHook postCheck
}
if [ -z "${dontUsePytestCheck-}" ] && [ -z "${installCheckPhase-}" ]; then
    installCheckPhase=pytestCheckPhase
fi
