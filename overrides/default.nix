# Curated per-package fixes, applied after the generated overrides (and before the user's
# `_` and `overridesPost`). Each fix is a function of the lock entry and the package, and
# says when it applies (by provider and version), so a fix never leaks onto a version it
# was not written for.
#
#   fixes.<normalised name> = [ { when = entry: bool; apply = entry: pkg: pkg'; } … ];
#
# When a fix belongs here rather than in the mechanism (lib/, docs/native.md):
#   * here: a fact the lock cannot carry and no rule derives from it, true of one project:
#     the C library an sdist's build compiles against (an sdist has no ELF file to read, and
#     its build finds the library through a tool or a variable of its own: geos-config,
#     gdal-config, pg_config, PROJ_DIR), or the libraries of a native wheel whose lock entry
#     does not list them (evaluation-time resolution has no network to read the wheel);
#   * in the mechanism: whatever follows from the lock for every package alike: sonames a
#     wheel's lock entry lists (lib/native.nix's table), other wheels' libraries
#     (needed_from), driver libraries, scripts two wheels install (lib/collisions.nix).
# A fix is small, names its provider and versions, and has a test that builds and imports the
# package against the nixpkgs double (tests/test_nix_realworld.py). Every nixpkgs attribute
# comes from lib/nixpkgs.nix (`surface`).
{ util, surface }:
let
  libs = surface.nativeLibraries;
  isSdist = entry: entry.provider == "sdist";
  versionAtLeast = entry: v: builtins.compareVersions entry.version v >= 0;
  # A wheel whose lock entry does not list the sonames its ELF files need.
  wheelWithoutNeeds = entry: entry.provider == "wheel" && !(entry.artifact ? needed);

  # An sdist that compiles against a C library: the library as build input (headers,
  # libraries, RUNPATH) and, for its config tool (gdal-config, …), as native build input.
  withCLibrary = library: extra: entry: pkg: pkg.overridePythonAttrs (old: {
    nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ library ];
    buildInputs = (old.buildInputs or [ ]) ++ [ library ];
  } // extra old);

  # The Python build tools an sdist declares (its [build-system] requires), for a lock entry
  # that does not list them: the database borrowed the release's wheel's metadata and the lock
  # could not read the sdist (--offline, as at evaluation time), so its `build_requires` is
  # PEP 517's default and it is `build_system_unlocked`. A tool the entry lists is not added twice.
  withBuildTools = self: names: entry: pkg: pkg.overridePythonAttrs (old: {
    build-system = (old.build-system or [ ]) ++ map (name: self.${name}) (builtins.filter
      (name: !(builtins.any (req: util.requirementName req == name) (entry.build_requires or [ ]))) names);
  });
  buildRequiresUnknown = entry: isSdist entry && (entry.build_requires or [ ]) == [ "setuptools>=40.8.0" ];

  # A native wheel locked without `needed`: the libraries its ELF files are known to need,
  # by soname, through the same table as the mechanism.
  withSonames = sonames: entry: pkg: pkg.overridePythonAttrs (old: {
    buildInputs = (old.buildInputs or [ ]) ++ map (so: libs.${native.sourceOf so}) sonames;
  });
  native = import ../lib/native.nix { inherit util surface; };

  # Plugins of a wheel that load only when a feature is used (dlopen), linking libraries of
  # that feature: autoPatchelf is told not to look for those.
  ignoring = sonames: entry: pkg: pkg.overridePythonAttrs (old: {
    autoPatchelfIgnoreMissingDeps = util.toList (old.autoPatchelfIgnoreMissingDeps or [ ]) ++ sonames;
  });
  isWheel = entry: entry.provider == "wheel";

  fixes = self: {
    # NVSHMEM's bootstrap and transport plugins (MPI, OpenSHMEM, PMIx, UCX, libfabric, mlx5):
    # multi-node transports, loaded only when chosen; torch links only libnvshmem_host.
    nvidia-nvshmem-cu12 = [ { when = isWheel; apply = ignoring nvshmemTransports; } ];
    nvidia-nvshmem-cu13 = [ { when = isWheel; apply = ignoring nvshmemTransports; } ];
    # cuFile's RDMA plugin (libcufile_rdma) links the RDMA stack; torch links only libcufile.
    nvidia-cufile = [ { when = isWheel; apply = ignoring rdma; } ];
    nvidia-cufile-cu12 = [ { when = isWheel; apply = ignoring rdma; } ];

    # shapely 2 links GEOS's C API (geos-config); shapely 1 loads it with ctypes at run time,
    # from the path nixpkgs patches in: not covered here.
    shapely = [ { when = entry: isSdist entry && versionAtLeast entry "2"; apply = withCLibrary libs.geos (_: { }); } ];
    # pyproj finds PROJ through PROJ_DIR (else the `proj` program on PATH).
    pyproj = [
      { when = buildRequiresUnknown; apply = withBuildTools self [ "cython" ]; }
      {
        when = isSdist;
        apply = withCLibrary libs.proj (_: { PROJ_DIR = "${libs.proj}"; PROJ_LIBDIR = "${libs.proj}/lib";
          PROJ_INCDIR = "${libs.proj}/include"; });
      }
    ];
    # fiona and GDAL's own bindings: gdal-config.
    fiona = [
      { when = buildRequiresUnknown; apply = withBuildTools self [ "cython" ]; }
      { when = isSdist; apply = withCLibrary libs.gdal (_: { }); }
    ];
    gdal = [ { when = isSdist; apply = withCLibrary libs.gdal (_: { }); } ];
    # cartopy (>= 0.20: its own Cython module; GEOS and PROJ come through shapely and pyproj).
    cartopy = [ { when = buildRequiresUnknown; apply = withBuildTools self [ "cython" "numpy" "setuptools-scm" ]; } ];
    # psycopg2 (not -binary): libpq through pg_config.
    psycopg2 = [ { when = isSdist; apply = withCLibrary libs.libpq (_: { }); } ];
    # opencv-python's wheels link OpenGL, GLib and X11 (measured on 4.x and 5.0 wheels); with
    # `needed` in the lock the mechanism adds them itself.
    opencv-python = [
      {
        when = wheelWithoutNeeds;
        apply = withSonames [ "libGL.so.1" "libglib-2.0.so.0" "libgthread-2.0.so.0" "libX11.so.6" "libXext.so.6"
          "libSM.so.6" "libICE.so.6" "libxcb.so.1" ];
      }
    ];
  };
  nvshmemTransports = [ "libmpi.so.*" "liboshmem.so.*" "libpmix.so.*" "libucp.so.*" "libucs.so.*" "libfabric.so.*" ]
    ++ rdma;
  rdma = [ "libibverbs.so.*" "librdmacm.so.*" "libmlx5.so.*" ];
  applyFixes = self: entry: pkg:
    builtins.foldl' (p: fix: if fix.when entry then fix.apply entry p else p) pkg ((fixes self).${entry.name} or [ ]);
in
/* The curated fixes for the packages of a lock, as an extension.

   Type: curated :: Lock -> Extension */
lock: self: super: builtins.listToAttrs (map
  (name: { inherit name; value = applyFixes self lock.packages.${name} super.${name}; })
  (builtins.filter (name: fixes { } ? ${name} && super ? ${name}) (builtins.attrNames lock.packages)))
