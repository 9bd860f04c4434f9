"""`python -m tally`: the engine's command line (no Django is imported).

NumPy's BLAS (OpenBLAS) starts one thread per core when it is imported, which costs ~50 ms of CPU on a
2-core machine (more on more cores): a fifth of a whole MES count of Warsaw 2026. The engine's arithmetic
is elementwise (no matrix products worth a thread), so the command line asks for one thread before NumPy
is imported; a value the user set in the environment is kept.
"""

import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from tally.engine.cli import main  # noqa: E402 - after the thread settings, which NumPy reads on import

if __name__ == "__main__":
    sys.exit(main())
