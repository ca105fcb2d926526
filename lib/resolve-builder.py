"""Builder of the evaluation-time resolution: run ``mach-nix ARGS -o $out``.

The output is always written, as JSON:

* the lock;
* ``{"error": "<message>"}`` when the resolver refuses the input, so that Nix
  can show the resolver's message as a short evaluation error instead of a
  failed-build log;
* ``{"fetch": [{"file", "sha256", "url"}, …]}`` when a graph-only database
  lacks file-index shards of the chosen artifacts: Nix fetches them (fixed
  output, hashes from the manifest) and runs this again with ``--files-cache``.
"""

import contextlib
import io
import json
import os
import sys

from mach_nix.cli import main
from mach_nix.db.store import MissingFilesError

out = os.environ["out"]
stderr = io.StringIO()
fetch = None
with contextlib.redirect_stderr(stderr):
    try:
        code = main(sys.argv[1:] + ["-o", out], reraise=(MissingFilesError,))
    except MissingFilesError as error:
        code = 0 if all(source["url"] for source in error.sources) else 6
        fetch = error.sources
        if code:
            print(f"mach-nix: error: {error}", file=sys.stderr)
if fetch is not None and code == 0:
    with open(out, "w") as handle:
        json.dump({"fetch": fetch}, handle)
elif code != 0:
    message = stderr.getvalue().strip()
    prefix = "mach-nix: error: "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    with open(out, "w") as handle:
        json.dump({"error": message or f"the resolver exited with code {code}"}, handle)
else:
    sys.stderr.write(stderr.getvalue())
