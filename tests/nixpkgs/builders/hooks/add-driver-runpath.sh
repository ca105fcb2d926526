# addDriverRunpath (double): prepend the GPU driver's directory to an ELF file's RUNPATH.
addDriverRunpath() {
    local file rpath
    for file in "$@"; do
        rpath="$(patchelf --print-rpath "$file")"
        patchelf --set-rpath "/run/opengl-driver/lib${rpath:+:$rpath}" "$file"
    done
}
