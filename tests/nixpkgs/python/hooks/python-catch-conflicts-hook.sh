# pythonCatchConflictsHook (double): fail when one distribution is provided by two
# different store paths in the runtime closure of $out.
pythonCatchConflictsPhase() {
    if [ -z "${dontUsePythonCatchConflicts-}" ]; then
        @pythonInterpreter@ @catchConflicts@ "$out" "@pythonSitePackages@"
    fi
}
preDistPhases+=" pythonCatchConflictsPhase"
