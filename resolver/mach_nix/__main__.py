"""``python -m mach_nix`` is the same as the ``mach-nix`` command."""

import sys

from mach_nix.entry import main

sys.exit(main())
