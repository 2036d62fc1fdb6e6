"""``python bench/run.py [--smoke]``: the whole benchmark (see bench/suite.py)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository importable, as ``python -m bench.run`` would.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
