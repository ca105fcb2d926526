# The double's stdenv: a small, faithful subset of nixpkgs' pkgs/stdenv/generic/setup.sh.
# Sourced by default-builder.sh in every mkDerivation build, and by nix-shell.
# Host tools (coreutils, tar, patch, the host python) come from @hostPath@.

__nixpkgs_setup_set_original=$-
set -eu
set -o pipefail

export PATH="@hostPath@"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
export NIX_BUILD_CORES="${NIX_BUILD_CORES:-1}"
# Never let a build write to the real HOME (/homeless-shelter would be created on the host).
if [ -n "${TMPDIR-}" ]; then export HOME="$TMPDIR"; fi
export PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

hostOffset=0
envHooks=()
preFixupHooks=()
postFixupHooks=()
preDistHooks=()
unpackCmdHooks=()

addEnvHooks() { envHooks+=("$2"); }

# Add DIR to a :-separated search path variable if DIR exists and is not there yet.
addToSearchPathWithCustomDelimiter() {
    local delimiter="$1" varName="$2" dir="$3"
    if [ -d "$dir" ] && [[ "${!varName:+${delimiter}${!varName}${delimiter}}" != *"${delimiter}${dir}${delimiter}"* ]]; then
        export "${varName}=${!varName:+${!varName}${delimiter}}${dir}"
    fi
}
addToSearchPath() { addToSearchPathWithCustomDelimiter ":" "$@"; }

# runHook NAME: run the hook variable/function NAME, then every entry of the array NAMEs.
runHook() {
    local hookName="$1"; shift
    local hooksSlice="${hookName%Hook}Hooks[@]"
    if declare -F "$hookName" >/dev/null; then
        "$hookName" "$@"
    elif [ -n "${!hookName-}" ]; then
        eval "${!hookName}"
    fi
    local hook
    for hook in ${!hooksSlice+"${!hooksSlice}"}; do
        eval "$hook" "$@"
    done
    return 0
}

stripHash() {
    local strippedName
    strippedName="$(basename -- "$1")"
    if [[ "$strippedName" =~ ^[a-z0-9]{32}- ]]; then
        echo "${strippedName:33}"
    else
        echo "$strippedName"
    fi
}

substituteInPlace() {
    local file="$1"; shift
    local content
    content="$(cat "$file")"
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --replace|--replace-fail|--replace-warn|--replace-quiet)
                content="${content//"$2"/"$3"}"; shift 3 ;;
            *) echo "substituteInPlace: unknown argument $1" >&2; return 1 ;;
        esac
    done
    printf '%s\n' "$content" > "$file"
}

# --- dependencies: PATH, setup hooks and env hooks over the propagated closure ---
_depsSeen=" "
_depsOrdered=()
_collectDep() {
    local dep="$1"
    [ -n "$dep" ] || return 0
    case "$_depsSeen" in *" $dep "*) return 0 ;; esac
    _depsSeen+="$dep "
    _depsOrdered+=("$dep")
    local f prop
    for f in "$dep/nix-support/propagated-build-inputs" "$dep/nix-support/propagated-native-build-inputs"; do
        if [ -f "$f" ]; then
            for prop in $(cat "$f"); do _collectDep "$prop"; done
        fi
    done
}
for _dep in ${nativeBuildInputs-} ${buildInputs-} ${propagatedNativeBuildInputs-} ${propagatedBuildInputs-} \
            ${nativeInstallCheckInputs-} ${installCheckInputs-}; do
    _collectDep "$_dep"
done
for _dep in "${_depsOrdered[@]}"; do
    if [ -f "$_dep/nix-support/setup-hook" ]; then
        # shellcheck disable=SC1091
        source "$_dep/nix-support/setup-hook"
    fi
done
for _dep in "${_depsOrdered[@]}"; do
    addToSearchPath _depsBin "$_dep/bin"
    for _hook in ${envHooks[@]+"${envHooks[@]}"}; do
        "$_hook" "$_dep"
    done
done
if [ -n "${_depsBin-}" ]; then export PATH="$_depsBin:$PATH"; fi
# cc-wrapper: the inputs' headers and libraries for the compiler and linker (nixpkgs adds them
# through the wrappers' setup hooks; ../builders/cc_wrapper.py writes the RUNPATH entries).
for _dep in "${_depsOrdered[@]}"; do
    if [ -d "$_dep/include" ]; then NIX_CFLAGS_COMPILE="${NIX_CFLAGS_COMPILE-} -isystem $_dep/include"; fi
    if [ -d "$_dep/lib" ]; then NIX_LDFLAGS="${NIX_LDFLAGS-} -L$_dep/lib"; fi
done
export NIX_CFLAGS_COMPILE="${NIX_CFLAGS_COMPILE-}" NIX_LDFLAGS="${NIX_LDFLAGS-}"
if [ -n "${stdenv-}" ] && [ -x "$stdenv/bin/cc" ]; then
    export PATH="$stdenv/bin:$PATH" CC="$stdenv/bin/cc" CXX="$stdenv/bin/c++"
fi
unset _dep _hook

# --- phases ---
unpackFile() {
    local file="$1"
    if [ -d "$file" ]; then
        cp -r --no-preserve=mode "$file" "$(stripHash "$file")"
        return
    fi
    case "$file" in
        *.tar|*.tar.gz|*.tgz|*.tar.bz2|*.tbz2|*.tar.xz|*.txz) tar xf "$file" --no-same-owner --mode=u+w ;;
        # (nixpkgs needs the unzip hook for .zip, which buildPythonPackage adds for .zip
        # sources; a .whl is unpacked by wheelUnpackHook only.)
        *.zip) "@hostPython@" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(".")' "$file" ;;
        *)
            local hook
            for hook in ${unpackCmdHooks[@]+"${unpackCmdHooks[@]}"}; do
                if "$hook" "$file"; then return 0; fi
            done
            echo "do not know how to unpack source archive $file" >&2; return 1 ;;
    esac
}

unpackPhase() {
    runHook preUnpack
    if [ -z "${srcs-}" ]; then
        if [ -z "${src-}" ]; then echo "variable \$src or \$srcs should point to the source" >&2; exit 1; fi
        srcs="$src"
    fi
    local before after
    before="$(ls -A)"
    local s
    for s in $srcs; do unpackFile "$s"; done
    after="$(ls -A)"
    if [ -z "${sourceRoot-}" ]; then
        sourceRoot="$(comm -13 <(echo "$before" | sort) <(echo "$after" | sort) | head -n 1)"
        if [ -z "$sourceRoot" ]; then echo "unpacker produced no directory" >&2; exit 1; fi
    fi
    chmod -R u+w -- "$sourceRoot"
    runHook postUnpack
}

patchPhase() {
    runHook prePatch
    local p
    for p in ${patches-}; do
        echo "applying patch $p"
        patch ${patchFlags:--p1} < "$p"
    done
    runHook postPatch
}

configurePhase() { runHook preConfigure; runHook postConfigure; }
buildPhase() { runHook preBuild; runHook postBuild; }
checkPhase() { runHook preCheck; runHook postCheck; }
installPhase() { runHook preInstall; mkdir -p "$out"; runHook postInstall; }
installCheckPhase() { runHook preInstallCheck; runHook postInstallCheck; }
distPhase() { runHook preDist; runHook postDist; }

# As nixpkgs': outputs are only made writable here, never created. A declared output that
# no phase wrote makes Nix fail the build ("failed to produce output path for output …").
fixupPhase() {
    local output
    for output in $outputs; do
        if [ -e "${!output}" ]; then chmod -R u+w "${!output}"; fi
    done
    runHook preFixup
    if [ -n "${propagatedBuildInputs-}" ]; then
        mkdir -p "$out/nix-support"
        echo $propagatedBuildInputs > "$out/nix-support/propagated-build-inputs"
    fi
    if [ -n "${propagatedNativeBuildInputs-}" ]; then
        mkdir -p "$out/nix-support"
        echo $propagatedNativeBuildInputs > "$out/nix-support/propagated-native-build-inputs"
    fi
    if [ -n "${setupHook-}" ]; then
        mkdir -p "$out/nix-support"
        cp "$setupHook" "$out/nix-support/setup-hook"
    fi
    runHook postFixup
}

showPhaseHeader() { echo "Running phase: $1"; }

genericBuild() {
    if [ -n "${buildCommandPath-}" ]; then
        source "$buildCommandPath"; return
    fi
    if [ -n "${buildCommand-}" ]; then
        eval "$buildCommand"; return
    fi
    if [ -z "${phases-}" ]; then
        phases="${prePhases-} unpackPhase patchPhase ${preConfigurePhases-} configurePhase ${preBuildPhases-} buildPhase checkPhase ${preInstallPhases-} installPhase ${preFixupPhases-} fixupPhase installCheckPhase ${preDistPhases-} distPhase ${postPhases-}"
    fi
    local curPhase
    for curPhase in $phases; do
        case "$curPhase" in
            unpackPhase) [ -z "${dontUnpack-}" ] || continue ;;
            patchPhase) [ -z "${dontPatch-}" ] || continue ;;
            configurePhase) [ -z "${dontConfigure-}" ] || continue ;;
            buildPhase) [ -z "${dontBuild-}" ] || continue ;;
            checkPhase) [ "${doCheck-}" = 1 ] || continue ;;
            installPhase) [ -z "${dontInstall-}" ] || continue ;;
            fixupPhase) [ -z "${dontFixup-}" ] || continue ;;
            installCheckPhase) [ "${doInstallCheck-}" = 1 ] || continue ;;
            distPhase) [ "${doDist-}" = 1 ] || continue ;;
        esac
        showPhaseHeader "$curPhase"
        if [ -n "${!curPhase:-}" ]; then
            eval "${!curPhase}"
        else
            "$curPhase"
        fi
        if [ "$curPhase" = unpackPhase ]; then cd "${sourceRoot:-.}"; fi
    done
}

# Restore the caller's shell options (nix-shell sources this file into an interactive shell).
[[ $__nixpkgs_setup_set_original == *e* ]] || set +e
[[ $__nixpkgs_setup_set_original == *u* ]] || set +u
