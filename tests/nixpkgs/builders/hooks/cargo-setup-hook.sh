# cargoSetupHook (double): the vendored crates ($cargoDeps) must be there after unpacking
# and match the source's Cargo.lock (nixpkgs: rust/hooks/cargo-setup-hook.sh).
cargoSetupPostUnpackHook() {
    if [ ! -d "${cargoDeps-}" ]; then
        echo "cargoSetupHook: \$cargoDeps is not a directory of vendored crates" >&2
        exit 1
    fi
}
postUnpackHooks+=(cargoSetupPostUnpackHook)
