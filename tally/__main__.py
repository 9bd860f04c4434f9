"""`python -m tally`: the engine's command line (no Django is imported).

NumPy's BLAS (OpenBLAS) starts one thread per core when it is imported, which costs ~50 ms of CPU on a
2-core machine (more on more cores): a fifth of a whole MES count of Warsaw 2026. The engine's arithmetic
is elementwise (no matrix products worth a thread), so the command line asks for one thread before NumPy
is imported; a value the user set in the environment is kept.

When the command is done, the interpreter's teardown (clearing every module, NumPy's included: ~17 ms of
CPU, 7% of a whole MES count) is skipped with `os._exit` once the output is flushed, unless something
registered an exit handler (coverage, a profiler, logging): then Python exits as usual.
"""

import atexit
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from tally.engine.cli import main  # noqa: E402 - after the thread settings, which NumPy reads on import


def _exit(code: int) -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # e.g. a closed pipe: what was written is all there is
        pass
    # CPython's count of exit handlers (elsewhere: assume some); none: nothing would run at exit
    if getattr(atexit, "_ncallbacks", lambda: 1)() == 0:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
