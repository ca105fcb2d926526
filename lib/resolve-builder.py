"""Builder of the evaluation-time resolution: run ``mach-nix ARGS -o $out``.

The output is always written: the lock, or ``{"error": "<message>"}`` when the
resolver refuses the input, so that Nix can show the resolver's message as a
short evaluation error instead of a failed-build log.
"""

import contextlib
import io
import json
import os
import sys

from mach_nix.cli import main

out = os.environ["out"]
stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    code = main(sys.argv[1:] + ["-o", out])
if code != 0:
    message = stderr.getvalue().strip()
    prefix = "mach-nix: error: "
    if message.startswith(prefix):
        message = message[len(prefix):]
    with open(out, "w") as handle:
        json.dump({"error": message or f"the resolver exited with code {code}"}, handle)
else:
    sys.stderr.write(stderr.getvalue())
