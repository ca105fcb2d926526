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

from collections.abc import Mapping
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
    if entry["provider"] == "sdist":
        tool["build-requires"] = list(entry.get("build_requires", []))
    artifact = entry.get("artifact") or {}
    if "needed" in artifact:
        tool["needed"] = list(artifact["needed"])
    if artifact.get("needed_from"):
        tool["needed-from"] = list(artifact["needed_from"])
    if entry.get("yanked"):
        tool["yanked"] = True
    return tool


def to_pylock(data: Mapping[str, Any]) -> str:
    """The lock document ``data`` (``Lock.data``) as ``pylock.toml`` text.

    Raises:
        UsageError: a package comes from nixpkgs (pylock.toml can only name files).
    """
    packages: Mapping[str, Mapping[str, Any]] = data["packages"]
    from_nixpkgs = sorted(name for name, entry in packages.items() if entry["provider"] == "nixpkgs")
    if from_nixpkgs:
        names = ", ".join(from_nixpkgs)
        orders = " ".join(f"--provider {name}=wheel,sdist" for name in from_nixpkgs[:3])
        raise UsageError(
            f"pylock.toml records files to download, but {names} come(s) from nixpkgs, which has none: "
            f"lock them from PyPI ({orders}), or keep the mach-nix lock format (--format json)"
        )
    target = data["target"]
    minor = ".".join(str(target["python"]).split(".")[:2])
    lines = [
        f"lock-version = {toml_string(PYLOCK_VERSION)}",
        f"environments = [{toml_string(target_marker(target))}]",
        f"requires-python = {toml_string(f'=={minor}.*')}",
        f"created-by = {toml_string(CREATED_BY)}",
    ]
    for name in sorted(packages):
        entry = packages[name]
        lines += ["", "[[packages]]", f"name = {toml_string(name)}", f"version = {toml_string(entry['version'])}"]
        dependencies = [{"name": dep} for dep in entry["dependencies"]]
        if dependencies:
            lines.append("dependencies = [")
            lines += [f"    {toml_value(dep)}," for dep in dependencies]
            lines.append("]")
        artifact = _artifact_table(entry["artifact"])
        if entry["provider"] == "wheel":
            lines.append(f"wheels = [{toml_value(artifact)}]")
        else:
            lines.append(f"sdist = {toml_value(artifact)}")
        lines += ["", "[packages.tool.mach-nix]"]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in _tool_table(entry).items()]
    tool: dict[str, Any] = {
        "target": {k: v for k, v in target.items() if v is not None},
        "roots": list(data["roots"]),
    }
    if "inputs_hash" in data:
        tool["inputs-hash"] = data["inputs_hash"]
    lines += ["", "[tool.mach-nix]"]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in tool.items()]
    return "\n".join(lines) + "\n"
