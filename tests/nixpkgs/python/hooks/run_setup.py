# Run setup.py (or a bare setuptools.setup() when a project only has setup.cfg/pyproject.toml).
import os
import sys
import tokenize

import setuptools

sys.argv[0] = "setup.py"
if os.path.exists("setup.py"):
    with tokenize.open("setup.py") as handle:
        code = handle.read().replace("\r\n", "\n")
    exec(compile(code, "setup.py", "exec"), {"__name__": "__main__", "__file__": "setup.py"})
else:
    setuptools.setup()
