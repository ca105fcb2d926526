# pythonRemoveTestsDirHook (double): a top-level `tests` package must not be installed.
pythonRemoveTestsDir() {
    rm -rf "$out/@pythonSitePackages@/tests"
}
postFixupHooks+=(pythonRemoveTestsDir)
