"""Write a docker-archive image (gzip) for the double's dockerTools.buildLayeredImage.

Reads from the environment: ``contentsPaths`` (store paths symlinked into ``/``),
the ``closure-N`` reference graphs Nix exported into the build directory,
``imageName``, ``imageTag``, ``maxLayers``, ``configFile`` and ``extraCommands``.
Layers: one per store path of the closure, sorted, the surplus over
``maxLayers - 1`` merged into one; a last layer holds the contents' symlinks.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MTIME = 1


def read_closure() -> list[str]:
    """Store paths of every exported closure (the `exportReferencesGraph` files)."""
    paths: set[str] = set()
    for graph in glob.glob("closure-*"):
        with open(graph) as handle:
            lines = handle.read().split("\n")
        i = 0
        while i < len(lines) and lines[i]:
            paths.add(lines[i])
            count = int(lines[i + 2])
            i += 3 + count
    return sorted(paths)


def add_tree(tar: tarfile.TarFile, path: str) -> None:
    """Add ``path`` (a store path) recursively under its own name, with fixed metadata."""
    entries = [path]
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(dirs + files):
                entries.append(os.path.join(dirpath, name))
    for entry in entries:
        info = tar.gettarinfo(entry, arcname=entry.lstrip("/"))
        info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
        if info.isreg():
            with open(entry, "rb") as handle:
                tar.addfile(info, handle)
        else:
            tar.addfile(info)


def layer_bytes(paths: list[str], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            add_tree(tar, path)
        for name, target in sorted((links or {}).items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, MTIME
            tar.addfile(info)
    return buffer.getvalue()


def main() -> int:
    out = sys.argv[1]
    closure = read_closure()
    max_layers = int(os.environ["maxLayers"])
    groups = [[p] for p in closure[: max_layers - 1]]
    if len(closure) > max_layers - 1:
        groups.append(closure[max_layers - 1 :])
    links: dict[str, str] = {}
    for content in os.environ.get("contentsPaths", "").split():
        for entry in sorted(os.listdir(content)) if os.path.isdir(content) else []:
            if os.path.isdir(os.path.join(content, entry)) and not os.path.islink(os.path.join(content, entry)):
                for sub in sorted(os.listdir(os.path.join(content, entry))):
                    links[f"{entry}/{sub}"] = os.path.join(content, entry, sub)
            else:
                links[entry] = os.path.join(content, entry)
    layers = [layer_bytes(group) for group in groups] + [layer_bytes([], links)]
    with open(os.environ["configFile"]) as handle:
        base = json.load(handle)
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = dict(
        base,
        rootfs={"type": "layers", "diff_ids": diff_ids},
        history=[{"created": base.get("created"), "comment": "layer of mach-nix's test double"} for _ in layers],
    )
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    repo_tag = f"{os.environ['imageName']}:{os.environ['imageTag']}"
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def put(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            tar.addfile(info, io.BytesIO(data))

        for diff_id, layer in zip(diff_ids, layers, strict=True):
            put(f"{diff_id[7:]}/layer.tar", layer)
        put(config_name, config_bytes)
        put("manifest.json", json.dumps(manifest, sort_keys=True).encode())
        put("repositories", json.dumps({os.environ["imageName"]: {os.environ["imageTag"]: diff_ids[-1][7:]}}).encode())
    with open(out, "wb") as archive:
        archive.write(gzip.compress(buffer.getvalue(), mtime=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
