#!/usr/bin/env python3
"""moto_server with this project's small, documented patches for moto bugs that break a correct
AWS client (see scripts/moto_patches.py and ../shared/design/MOTO-NOTES.md). Same arguments as
moto_server. Used only by the test harness and the quick start, never by converge itself."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_patches  # noqa: E402

moto_patches.apply()

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
