# wrapPython (double): in postFixup, make every Python script in $out/bin run with the
# package's interpreter and see the package and its propagated Python dependencies.
wrapPythonPrograms() {
    if [ -n "${dontWrapPythonPrograms-}" ] || [ ! -d "$out/bin" ]; then return 0; fi
    @pythonInterpreter@ @wrapScript@ "$out" "@pythonSitePackages@" "@pythonInterpreter@" ${propagatedBuildInputs-} ${pythonPath-}
}
postFixupHooks+=(wrapPythonPrograms)
