"""`python -m tally`: the engine's command line (no Django is imported)."""

import sys

from tally.engine.cli import main

if __name__ == "__main__":
    sys.exit(main())
