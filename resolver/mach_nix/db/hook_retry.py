"""Why a PEP 517 hook failed, and what to run it again with.

The crawl's misses are almost all legacy ``setup.py`` files that fail under a current
setuptools or Python (``docs/security.md`` is about confinement; the classes are measured in
the coverage research). :func:`next_attempt` reads a failed run's output and returns the
next :class:`Attempt`, or ``None`` when no known fix applies:

* setuptools removed something the ``setup.py`` uses (``use_2to3`` in 58, ``Feature`` in 46,
  ``setuptools.command.test`` in 72, ``pkg_resources`` in 82): pin ``setuptools<N`` (with a
  ``wheel`` that still has ``bdist_wheel`` for setuptools older than 70.1);
* ``setup.py`` imports a module that is not a build requirement: add its distribution
  (:data:`IMPORT_TO_DISTRIBUTION`, else the module's own name), at most
  :data:`MAX_ADDED` of them; never a standard-library, Python-2-only or sdist-local module;
* it reads a README/LICENSE/CHANGES-like file missing from the sdist: an empty placeholder
  (never a ``requirements*.txt``: empty dependencies would be a wrong answer);
* it imports ABCs from ``collections`` (removed in 3.10): alias them before running it,
  i.e. the build as Python 3.9 would run it.

:func:`python2_only` recognises Python-2-only code (syntax, builtins and modules that
Python 3 does not have): such an sdist is recorded as its own failure kind,
``python2-only``, since it cannot be installed on the targets. :func:`environmental` tells
the failures that a static read of the sdist may stand in for (a missing tool, module or
file) from deliberate refusals (``raise RuntimeError("only on macOS")``).
"""

from __future__ import annotations

import collections.abc
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

#: How many distributions a hook's retries may add to its build requirements.
MAX_ADDED = 3
#: How many placeholder files a hook's retries may create.
MAX_PLACEHOLDERS = 3
#: How many times one sdist's hook runs at most.
MAX_ATTEMPTS = 6

#: Import names whose distribution is named differently.
IMPORT_TO_DISTRIBUTION = {
    "Cython": "Cython",
    "cython": "Cython",
    "yaml": "PyYAML",
    "brotli": "Brotli",
    "django": "Django",
    "PIL": "Pillow",
    "sklearn": "scikit-learn",
    "skbuild": "scikit-build",
    "git": "GitPython",
    "dateutil": "python-dateutil",
    "bs4": "beautifulsoup4",
    "Crypto": "pycryptodome",
    "OpenSSL": "pyOpenSSL",
    "serial": "pyserial",
    "usb": "pyusb",
    "jwt": "PyJWT",
    "magic": "python-magic",
    "dotenv": "python-dotenv",
    "docutils": "docutils",
    "pypandoc": "pypandoc",
    "m2r": "m2r",
    "flask": "Flask",
    "jinja2": "Jinja2",
    "markdown": "Markdown",
    "setuptools_scm": "setuptools-scm",
    "pkgconfig": "pkgconfig",
}

#: Modules of Python 2's standard library that Python 3 renamed or dropped.
PY2_MODULES = frozenset(
    [
        "urllib2",
        "cookielib",
        "ConfigParser",
        "StringIO",
        "cStringIO",
        "commands",
        "HTMLParser",
        "httplib",
        "urlparse",
        "Queue",
        "__builtin__",
        "cPickle",
        "exceptions",
        "sets",
        "md5",
        "sha",
        "new",
        "thread",
        "Tkinter",
        "copy_reg",
        "SocketServer",
        "xmlrpclib",
        "htmlentitydefs",
        "UserDict",
        "UserList",
        "UserString",
        "compiler",
        "dummy_thread",
        "anydbm",
        "whichdb",
        "robotparser",
        "SimpleHTTPServer",
        "BaseHTTPServer",
        "CGIHTTPServer",
        "Cookie",
        "urllib2_file",
        "imp_py2",
        "string_escape",
    ]
)
_PY2_NAMES = "unicode|basestring|execfile|raw_input|unichr|long|xrange|file|reduce|reload|cmp|buffer|apply|intern"
_PY2_PATTERNS = [
    re.compile(p)
    for p in (
        r"SyntaxError: Missing parentheses in call to '(print|exec)'",
        r"SyntaxError: multiple exception types must be parenthesized",
        r"SyntaxError: leading zeros in decimal integer literals are not permitted",
        r"TabError: inconsistent use of tabs and spaces in indentation",
        rf"NameError: name '({_PY2_NAMES})' is not defined",
        r"ImportError: cannot import name '(urlencode|quote|unquote|urlopen|urlretrieve|quote_plus)' from 'urllib'",
        r"AttributeError: 'dict' object has no attribute '(iteritems|itervalues|iterkeys|has_key)'",
        r"AttributeError: module 'string' has no attribute '(join|split|replace|letters|lowercase|uppercase|atoi|"
        r"maketrans|strip|lower|upper)'",
        r"AttributeError: module 'os' has no attribute 'getcwdu'",
    )
]
#: Standard-library modules that Python 3 releases removed (never a distribution to install).
REMOVED_STDLIB = frozenset(
    [
        "symbol",
        "parser",
        "formatter",
        "imp",
        "distutils",
        "asynchat",
        "asyncore",
        "smtpd",
        "binhex",
        "macpath",
        "dummy_threading",
        "_dummy_thread",
        "aifc",
        "audioop",
        "cgi",
        "cgitb",
        "chunk",
        "crypt",
        "imghdr",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "uu",
        "xdrlib",
        "lib2to3",
        "tkinter",
    ]
)
#: Python 2 statements, in the source line a generic ``SyntaxError: invalid syntax`` shows.
_PY2_LINE = re.compile(
    r"^\s*(print\s+[^\s(=]|print\s*$|exec\s+[\"'\w]|raise\s+[\w.]+\s*,)|except\s+[\w.()\s,]+\s*,\s*\w+\s*:"
    r"|\b0[0-7]+\b|\bur[\"']|`|<>"
)
#: setuptools releases that dropped what old setup.py files use: (pattern, first release without it).
SETUPTOOLS_REMOVALS = (
    (re.compile(r"use_2to3 is invalid"), 58),
    (re.compile(r"cannot import name 'Feature' from 'setuptools'"), 46),
    (re.compile(r"No module named 'setuptools\.command\.test'"), 72),
    (re.compile(r"No module named 'pkg_resources'"), 82),
)
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
_MISSING_FILE = re.compile(
    r"(?:FileNotFoundError|IOError|OSError|error): \[Errno 2\] No such file or directory: '([^']+)'"
)
_PLACEHOLDER_NAME = re.compile(
    r"(?i)^(readme|license|licence|copying|copyright|changes|changelog|history|news|authors|contributors|credits"
    r"|notice|description|long_description|release[-_ ]?notes)([._-][\w.-]*)?$"
)
_COLLECTIONS = re.compile(
    r"(?:cannot import name '(\w+)' from 'collections'|module 'collections' has no attribute '(\w+)')"
)
#: Failures a static read of the sdist may stand in for: something of the build machine is missing.
_ENVIRONMENTAL = re.compile(
    r"(FileNotFoundError|PermissionError|IndexError|ModuleNotFoundError|ImportError|CalledProcessError"
    r"|\w*ConfigurationError|error: \[Errno|command not found|No such file or directory|pkg-config|-config\b"
    r"|use_2to3 is invalid|cannot install build requirements|Modules/Setup|unicodedata_db)"
)
_LAST_FRAME = re.compile(r'File "([^"]+)", line \d+')


@dataclass(frozen=True)
class Attempt:
    """One way of running an sdist's hook.

    Attributes:
        requires: the build requirements to install.
        placeholders: files (relative to the sdist's top directory) to create empty first.
        compat: alias ``collections.abc`` names into ``collections`` before the backend runs.
        notes: what this attempt changed, for the failure reason (``"setuptools<58"``, ...).
        added: distributions added for missing imports so far.
    """

    requires: tuple[str, ...]
    placeholders: tuple[str, ...] = ()
    compat: bool = False
    notes: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


def error_line(log: str) -> str:
    """The line of a failed hook's output that says what went wrong (an exception, or distutils' ``error:``)."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Exit|Warning)\b.*", line) or line.startswith("error"):
            return line.strip()
    return lines[-1].strip() if lines else ""


def _name(requirement: str) -> str:
    try:
        return str(canonicalize_name(Requirement(requirement).name))
    except InvalidRequirement:
        return ""


def _last_frame(log: str) -> str:
    frames = _LAST_FRAME.findall(log)
    return frames[-1] if frames else ""


def python2_only(log: str, src_inside: str) -> str | None:
    """The evidence that the sdist's code is Python 2 only, or ``None``."""
    tail = log[-20000:]
    # setuptools runs setup.py as "<string>" or "setup.py"; the sdist's modules are under src_inside
    frame = _last_frame(tail)
    from_sdist = bool(frame) and (not frame.startswith("/") or frame.startswith(src_inside + "/"))
    if not from_sdist and "SyntaxError" not in tail and "TabError" not in tail:
        return None
    for pattern in _PY2_PATTERNS:
        match = pattern.search(tail)
        if match:
            return match.group(0)
    missing = _MISSING_MODULE.findall(tail)
    if missing and missing[-1].split(".")[0] in PY2_MODULES:
        return f"ModuleNotFoundError: No module named '{missing[-1]}'"
    if "SyntaxError: invalid syntax" in tail:
        lines = tail.splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("SyntaxError: invalid syntax") and i >= 2:
                # the offending source line sits above the caret line
                code = lines[i - 2] if set(lines[i - 1].strip()) <= {"^", "~"} else lines[i - 1]
                if _PY2_LINE.search(code):
                    return f"SyntaxError: invalid syntax in {code.strip()[:80]!r}"
    return None


def environmental(log: str) -> bool:
    """True if the failure looks like a missing tool, module or file, not the sdist refusing this machine."""
    return bool(_ENVIRONMENTAL.search(error_line(log)) or _ENVIRONMENTAL.search(log[-2000:]))


def _uses_setuptools(attempt: Attempt, backend: str) -> bool:
    return backend.startswith("setuptools") or any(_name(r) == "setuptools" for r in attempt.requires)


def _pin_setuptools(attempt: Attempt, below: int) -> Attempt | None:
    current = [r for r in attempt.requires if _name(r) == "setuptools"]
    for requirement in current:
        try:
            parsed = Requirement(requirement)
        except InvalidRequirement:
            continue
        if parsed.specifier and all(
            s.operator == "<" and int(s.version.split(".")[0]) <= below for s in parsed.specifier
        ):
            return None  # already pinned that low: pinning again would change nothing
    requires = [r for r in attempt.requires if _name(r) != "setuptools"] + [f"setuptools<{below}"]
    if below <= 70 and not any(_name(r) == "wheel" for r in requires):
        requires.append("wheel<0.46")  # wheel 0.46 moved bdist_wheel into setuptools 70.1
    return replace(attempt, requires=tuple(requires), notes=(*attempt.notes, f"setuptools<{below}"))


def local_modules(src: Path) -> frozenset[str]:
    """Names a ``setup.py`` in ``src`` could import from the sdist itself (its modules and directories)."""
    names: set[str] = set()
    for _, dirnames, filenames in os.walk(src):
        names.update(dirnames)
        names.update(name[:-3] for name in filenames if name.endswith(".py"))
    return frozenset(names)


def next_attempt(attempt: Attempt, log: str, local: frozenset[str], src_inside: str, backend: str) -> Attempt | None:
    """The attempt to run after ``attempt`` failed with output ``log``, or ``None``.

    ``local`` are the sdist's own module names (:func:`local_modules`), ``src_inside`` its
    top directory as the hook saw it (its working directory).
    """
    tail = log[-20000:]
    last = error_line(tail)
    if _uses_setuptools(attempt, backend) or "pkg_resources" in last:
        for pattern, below in SETUPTOOLS_REMOVALS:
            if pattern.search(last):
                pinned = _pin_setuptools(attempt, below)
                if pinned is not None:
                    return pinned
    match = _COLLECTIONS.search(last)
    if match and not attempt.compat and (match.group(1) or match.group(2)) in collections.abc.__all__:
        return replace(attempt, compat=True, notes=(*attempt.notes, "collections ABC aliases"))
    match = _MISSING_MODULE.search(last)
    if match:
        top = match.group(1).split(".")[0]
        distribution = IMPORT_TO_DISTRIBUTION.get(top, top)
        if (
            top not in sys.stdlib_module_names
            and top not in REMOVED_STDLIB
            and top not in PY2_MODULES
            and top != "pkg_resources"
            and len(attempt.added) < MAX_ADDED
            and distribution not in attempt.added
            and not any(_name(r) == _name(distribution) for r in attempt.requires)
            and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", distribution)
            and top not in local
        ):
            return replace(
                attempt,
                requires=(*attempt.requires, distribution),
                added=(*attempt.added, distribution),
                notes=(*attempt.notes, f"added {distribution}"),
            )
    match = _MISSING_FILE.search(last)
    if match and len(attempt.placeholders) < MAX_PLACEHOLDERS:
        path = match.group(1)
        rel = path[len(src_inside) + 1 :] if path.startswith(src_inside + "/") else path
        parts = Path(rel).parts
        if (
            parts
            and not Path(rel).is_absolute()
            and ".." not in parts
            and _PLACEHOLDER_NAME.match(parts[-1])
            and rel not in attempt.placeholders
        ):
            return replace(
                attempt, placeholders=(*attempt.placeholders, rel), notes=(*attempt.notes, f"placeholder {rel}")
            )
    return None
