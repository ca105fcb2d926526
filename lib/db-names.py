"""Builder: write the JSON list of every project name in the given database layers."""

import json
import os
import sys

from mach_nix.db.store import open_database

with open(os.environ["out"], "w") as handle:
    json.dump(sorted(open_database(sys.argv[1:]).names()), handle)
