"""Time and measure reading Pabulib files, and the whole `python -m tally run` process, beside pabutools.

    .venv/bin/python bench/parse.py [FILE.pb ...] [--runs 5] [--process-runs 5] [--before REV]
                                    [--no-process] [--no-pabutools]

Per file (default: every .pb in ../shared/pabulib):
  parse      CPU seconds (time.process_time, median of --runs) of `pabulib.read(path)` in this process,
             after one warm-up read; `lines` the same for the line-by-line parser (`_parse_lines` on the
             decoded text: the reader before the column reader, still its fallback); `ballots` the CPU
             seconds to build the Ballot objects from the column form on first use (BallotTable).
  traced     peak of Python allocations (tracemalloc, NumPy included) during one `read`, as a multiple of
             the file size.
  rss        max RSS growth of a fresh subprocess while it reads the file (VmHWM after the read minus
             VmHWM after the imports), as a multiple of the file size; `rss total` the subprocess's max RSS
             (interpreter and NumPy included).
Whole process (Warsaw 2026 unless files are given): wall and CPU seconds (children's user + sys from
getrusage) of `python -m tally run FILE --rule R` for R in greedy, equalshares, median of --process-runs;
with --before REV, the same at that revision (extracted with `git archive` to a temporary directory); and
pabutools 1.2.3's whole process for the same rule (start, import, parse_pabulib, the rule, print), if it is
installed (the bench extra).

The machine is shared: CPU time is less disturbed by neighbours than wall time, but both are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tally.engine import pabulib  # noqa: E402

SHARED = ROOT.parent / "shared" / "pabulib"
WARSAW = SHARED / "Poland_Warszawa_2026.pb"
RULES = ("greedy", "equalshares")

# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child would report its parent's peak.
RSS_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from tally.engine import pabulib

def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

base = hwm()
e = pabulib.read(sys.argv[2])
print(base, hwm(), len(e.profile.ballots))
"""

PABUTOOLS_SCRIPT = r"""
import sys
import pulp
if not hasattr(pulp, "PULP_CBC_CMD"):  # pulp >= 3 dropped names pabutools 1.2.3 imports (ILP rules only)
    pulp.PULP_CBC_CMD = pulp.COIN_CMD
if not hasattr(pulp, "LpStatusOptimal"):
    pulp.LpStatusOptimal = 1
from pabutools.election import parse_pabulib, Cost_Sat
from pabutools.rules import greedy_utilitarian_welfare, method_of_equal_shares

instance, profile = parse_pabulib(sys.argv[1])
rule = {"greedy": greedy_utilitarian_welfare, "equalshares": method_of_equal_shares}[sys.argv[2]]
print(sorted(str(p.name) for p in rule(instance, profile, sat_class=Cost_Sat)))
"""


def cpu_median(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def measure_file(path: Path, runs: int) -> dict:
    size = path.stat().st_size
    pabulib.read(path)  # warm-up: imports, caches
    parse = cpu_median(lambda: pabulib.read(path), runs)
    lines = cpu_median(lambda: pabulib._parse_lines(path.read_bytes().decode("utf-8-sig")), runs)

    def build() -> None:
        table = pabulib.read(path).profile.ballots
        t = time.process_time()
        table[0] if len(table) else None
        build.seconds.append(time.process_time() - t)

    build.seconds = []
    for _ in range(runs):
        build()
    tracemalloc.start()
    pabulib.read(path)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(ROOT), str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    base, peak, voters = (int(x) for x in out)
    return {
        "size": size,
        "voters": voters,
        "parse": parse,
        "lines": lines,
        "ballots": statistics.median(build.seconds),
        "traced": traced / size,
        "rss": (peak - base) / size,
        "rss_total": peak,
    }


def time_process(cmd: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    """(median wall s, median CPU s of the child) over runs."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(walls), statistics.median(cpus)


def has_pabutools() -> bool:
    probe = "import pulp\npulp.PULP_CBC_CMD = getattr(pulp, 'PULP_CBC_CMD', None)\nimport pabutools"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--process-runs", type=int, default=5)
    ap.add_argument("--before", help="also time the whole process at this git revision")
    ap.add_argument("--no-process", action="store_true")
    ap.add_argument("--no-pabutools", action="store_true")
    args = ap.parse_args()
    files = args.files or sorted(SHARED.glob("*.pb"))

    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine: figures are noisy)"
    )
    print(
        f"{'file':<40} {'MB':>6} {'voters':>7} {'parse s':>8} {'lines s':>8} {'ballots s':>9} "
        f"{'traced':>7} {'rss':>6} {'rss total':>9}"
    )
    for path in files:
        m = measure_file(path, args.runs)
        print(
            f"{path.stem[:40]:<40} {m['size'] / 1e6:>6.2f} {m['voters']:>7} {m['parse']:>8.3f} "
            f"{m['lines']:>8.3f} {m['ballots']:>9.3f} {m['traced']:>6.2f}x {m['rss']:>5.2f}x "
            f"{m['rss_total'] / 1e6:>7.1f}MB"
        )
    if args.no_process:
        return 0

    targets = args.files or [WARSAW]
    pabutools = not args.no_pabutools and has_pabutools()
    with tempfile.TemporaryDirectory() as tmp:
        before = None
        if args.before:
            before = Path(tmp)
            archive = subprocess.run(
                ["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        print(f"\nwhole process, median of {args.process_runs}: wall s / CPU s (user + sys of the child)")
        for path in targets:
            for rule in RULES:
                cmd = [sys.executable, "-m", "tally", "run", str(path), "--rule", rule]
                wall, cpu = time_process(cmd, ROOT, args.process_runs)
                line = f"{path.stem[:30]:<30} {rule:<12} pb {wall:6.2f} / {cpu:5.2f}"
                if before is not None:
                    wall, cpu = time_process(cmd, before, args.process_runs)
                    line += f"   pb at {args.before} {wall:6.2f} / {cpu:5.2f}"
                if pabutools:
                    cmd = [sys.executable, "-c", PABUTOOLS_SCRIPT, str(path), rule]
                    wall, cpu = time_process(cmd, ROOT, args.process_runs)
                    line += f"   pabutools {wall:6.2f} / {cpu:5.2f}"
                print(line, flush=True)
        start_wall, start_cpu = time_process([sys.executable, "-c", "pass"], ROOT, args.process_runs)
        print(f"(python start alone: {start_wall:.2f} / {start_cpu:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
