# pythonImportsCheckHook (double): import every module of pythonImportsCheck from $out.
pythonImportsCheckPhase() {
    if [ -n "${pythonImportsCheck-}" ] && [ -z "${dontUsePythonImportsCheck-}" ]; then
        echo "Check whether the following modules can be imported: $pythonImportsCheck"
        # nixpkgs' loader searches RUNPATHs only; the host's would also search /usr/lib.
        @pythonInterpreter@ @loaderCheck@ @patchelf@ "$out"
        ( cd "$out" && PYTHONDONTWRITEBYTECODE=1 \
          PYTHONPATH="$out/@pythonSitePackages@${PYTHONPATH:+:$PYTHONPATH}" \
          @pythonInterpreter@ -c 'import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]' $pythonImportsCheck )
    fi
}
preDistPhases+=" pythonImportsCheckPhase"
