"""A lock as ``pylock.toml`` (PEP 751, lock-version 1.0): :func:`to_pylock`.

The document is made from the lock's in-memory model (``docs/lock-format.md``), and
says the same thing in the standard's terms (``docs/pylock.md`` lists every field):

* top level: ``lock-version = "1.0"``, ``environments`` (one marker: the lock's target),
  ``requires-python`` (its Python minor, ``==3.11.*``), ``created-by = "mach-nix"``;
* one ``[[packages]]`` per package, sorted by name: ``name``, ``version``,
  ``dependencies`` (``{ name = … }`` tables: one entry per name, so the name is
  unambiguous), and the chosen artifact as ``wheels = [ … ]`` (one wheel: the one the
  resolution chose for the target) or ``sdist``, with ``name``, ``url`` and
  ``hashes.sha256``. The lock records no file sizes or upload times, so neither is
  written (both are optional);
* what the standard has no field for goes to the ``tool.mach-nix`` tables, which
  installers ignore: per package ``root``, ``extras``, ``build-requires`` (sdists),
  ``needed`` / ``needed-from`` (native wheels), ``yanked``; at the top the ``target``,
  the ``inputs-hash`` and the ``roots``. ``mkPython { lock = ./pylock.toml; }`` reads them
  back (``lib/pylock.nix``), so a pylock.toml written here builds what the JSON lock builds.

A package taken from nixpkgs has no file to record: such a lock is refused
(:class:`~mach_nix.errors.UsageError`, naming the packages and the fix).

Bytes are deterministic: keys in a fixed order, lists sorted as in the lock, no time
stamps, one trailing newline. The TOML is written here (the standard library only reads
TOML); :func:`toml_string` quotes every string as a TOML basic string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mach_nix.errors import UsageError
from mach_nix.platforms import SYSTEMS

#: The PEP 751 format version written.
PYLOCK_VERSION = "1.0"
#: ``created-by``: the normalised name of the tool.
CREATED_BY = "mach-nix"


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (``"…"``, escapes for ``"``, ``\\`` and control characters)."""
    out = []
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """A JSON-like value (str, bool, int, list, mapping) as an inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def toml_key(key: str) -> str:
    """A bare key when it may be one, else a quoted key."""
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return toml_string(key)


def target_marker(target: Mapping[str, Any]) -> str:
    """The PEP 508 marker that holds exactly on the lock's target (its Python minor and system)."""
    sys_platform, _system, machine = SYSTEMS[target["system"]]
    minor = ".".join(str(target["python"]).split(".")[:2])
    return (
        f"python_version == '{minor}' and implementation_name == 'cpython' "
        f"and sys_platform == '{sys_platform}' and platform_machine == '{machine}'"
    )


def _artifact_table(artifact: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": artifact["filename"], "url": artifact["url"], "hashes": {"sha256": artifact["sha256"]}}


def _tool_table(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the standard has no field for, as ``[packages.tool.mach-nix]``."""
    tool: dict[str, Any] = {"root": bool(entry.get("root"))}
    if entry.get("extras"):
        tool["extras"] = list(entry["extras"])
    if entry["provider"] == "sdist" or "build_requires" in entry:
        tool["build-requires"] = list(entry.get("build_requires", []))
    artifact = entry.get("artifact") or {}
    if "needed" in artifact:
        tool["needed"] = list(artifact["needed"])
    if artifact.get("needed_from"):
        tool["needed-from"] = list(artifact["needed_from"])
    if entry.get("yanked"):
        tool["yanked"] = True
    return tool


def _source_tables(entry: Mapping[str, Any]) -> dict[str, Any]:
    """PEP 751's table of a local, archive or VCS source: ``directory`` (a project tree),
    ``archive`` (a file: by ``path`` or ``url``, with its sha256), a ``wheels`` entry for a wheel
    file, ``vcs`` (git, pinned by commit). Paths stay relative to the lock file."""
    source = entry["source"]
    provider = entry["provider"]
    if provider == "vcs":
        vcs: dict[str, Any] = {"type": "git", "url": source["url"], "commit-id": source["rev"]}
        if source.get("ref"):
            vcs["requested-revision"] = source["ref"]
        if source.get("subdirectory"):
            vcs["subdirectory"] = source["subdirectory"]
        return {"vcs": vcs}
    if provider == "local" and "sha256" not in source:
        directory: dict[str, Any] = {"path": source["path"]}
        if source.get("editable"):
            directory["editable"] = True
        return {"directory": directory}
    where = {"path": source["path"]} if provider == "local" else {"url": source["url"]}
    hashes = {"hashes": {"sha256": source["sha256"]}}
    if source.get("wheel"):
        filename = source.get("filename") or str(source["path"]).rsplit("/", 1)[-1]
        return {"wheels": {filename: {"name": filename, **where, **hashes}}}
    return {"archive": {**where, **hashes}}


def to_pylock(data: Mapping[str, Any]) -> str:
    """The lock document ``data`` (``Lock.data``) as ``pylock.toml`` text.

    Raises:
        UsageError: a package comes from nixpkgs (pylock.toml can only name files).
    """
    return to_pylock_targets([data])


def _refuse_nixpkgs(packages: Mapping[str, Mapping[str, Any]]) -> None:
    from_nixpkgs = sorted(name for name, entry in packages.items() if entry["provider"] == "nixpkgs")
    if from_nixpkgs:
        names = ", ".join(from_nixpkgs)
        orders = " ".join(f"--provider {name}=wheel,sdist" for name in from_nixpkgs[:3])
        raise UsageError(
            f"pylock.toml records files to download, but {names} come(s) from nixpkgs, which has none: "
            f"lock them from PyPI ({orders}), or keep the mach-nix lock format (--format json)"
        )


def _requires_python(targets: Sequence[Mapping[str, Any]]) -> str:
    """``==3.11.*`` for one Python minor; ``>=3.11,<3.13`` for several (``environments`` says which)."""
    minors = sorted({tuple(int(p) for p in str(t["python"]).split(".")[:2]) for t in targets})
    if len(minors) == 1:
        return f"=={minors[0][0]}.{minors[0][1]}.*"
    low, high = minors[0], minors[-1]
    return f">={low[0]}.{low[1]},<{high[0]}.{high[1] + 1}"


def to_pylock_targets(documents: Sequence[Mapping[str, Any]]) -> str:
    """The single-target lock documents of one or more targets as one ``pylock.toml``.

    ``environments`` lists each target's marker, in order. A package entry stands for one
    version with the same provider, dependencies and ``tool.mach-nix`` table on a set of
    targets: without a ``marker`` when that is every target, else with the ``or`` of their
    markers; its ``wheels`` are the wheels those targets chose (an installer, and
    ``lib/pylock.nix``, takes the one that fits). The roots are those of any target.

    Raises:
        UsageError: a package comes from nixpkgs (pylock.toml can only name files).
    """
    targets = [document["target"] for document in documents]
    markers = [target_marker(target) for target in targets]
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for index, document in enumerate(documents):
        packages: Mapping[str, Mapping[str, Any]] = document["packages"]
        _refuse_nixpkgs(packages)
        for name, entry in packages.items():
            tool = _tool_table(entry)
            key = (name, entry["version"], entry["provider"], toml_value([list(entry["dependencies"]), tool]))
            group = groups.setdefault(key, {"entry": entry, "tool": tool, "targets": [], "wheels": {}})
            group["targets"].append(index)
            if "source" in entry:  # a local, archive or VCS source
                group.update(_source_tables(entry))
                continue
            artifact = _artifact_table(entry["artifact"])
            if entry["provider"] == "wheel":
                group["wheels"][artifact["name"]] = artifact
            else:
                group["sdist"] = artifact
    lines = [
        f"lock-version = {toml_string(PYLOCK_VERSION)}",
        "environments = [" + ", ".join(toml_string(marker) for marker in markers) + "]",
        f"requires-python = {toml_string(_requires_python(targets))}",
        f"created-by = {toml_string(CREATED_BY)}",
    ]
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], groups[k]["targets"])):
        group = groups[key]
        entry = group["entry"]
        name = key[0]
        lines += ["", "[[packages]]", f"name = {toml_string(name)}", f"version = {toml_string(entry['version'])}"]
        if len(group["targets"]) < len(documents):
            chosen = [markers[i] for i in group["targets"]]
            marker = chosen[0] if len(chosen) == 1 else " or ".join(f"({m})" for m in chosen)
            lines.append(f"marker = {toml_string(marker)}")
        dependencies = [{"name": dep} for dep in entry["dependencies"]]
        if dependencies:
            lines.append("dependencies = [")
            lines += [f"    {toml_value(dep)}," for dep in dependencies]
            lines.append("]")
        if group["wheels"]:
            wheels = [group["wheels"][filename] for filename in sorted(group["wheels"])]
            lines.append("wheels = [" + ", ".join(toml_value(wheel) for wheel in wheels) + "]")
        if "sdist" in group:
            lines.append(f"sdist = {toml_value(group['sdist'])}")
        for kind in ("directory", "archive", "vcs"):
            if kind in group:
                lines.append(f"{kind} = {toml_value(group[kind])}")
        lines += ["", "[packages.tool.mach-nix]"]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in group["tool"].items()]
    roots = sorted({root for document in documents for root in document["roots"]})
    top: dict[str, Any] = {}
    if len(documents) == 1:
        top["target"] = {k: v for k, v in targets[0].items() if v is not None}
    else:
        top["targets"] = [{k: v for k, v in target.items() if v is not None} for target in targets]
    top["roots"] = roots
    hashes = {document.get("inputs_hash") for document in documents}
    if len(hashes) == 1 and None not in hashes:
        top["inputs-hash"] = hashes.pop()
    lines += ["", "[tool.mach-nix]"]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in top.items()]
    return "\n".join(lines) + "\n"
