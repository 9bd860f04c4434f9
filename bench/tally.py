"""Time pb's tally engine per rule on real Pabulib files, and pabutools on the same rule where it can run.

    .venv/bin/python bench/tally.py [FILE.pb ...] [--rules greedy,equalshares/add1] [--pabutools-limit 120]
                                    [--pabutools-add1 search|final] [--no-pabutools] [--repeat 5]
                                    [--pabutools-repeat 3] [--process] [--no-add1-figures]
                                    [--pabutools-python /tmp/venv/bin/python]

Default files: Poland_Warszawa_2026.pb, Poland_Lodz_2022.pb, Poland_Krakow_2024.pb under ../shared/pabulib
(when present). Prints figures; asserts nothing about time. Times are CPU seconds of the process
(time.process_time), for pb and for pabutools alike, the median of `--repeat` (pb) and `--pabutools-repeat`
runs: the machine is shared, and wall time mostly measures the neighbours. The pabutools limit is wall time.
`--process` adds the CPU time of whole `python -m tally run --json` processes (the user's figure: start,
imports, read, count, explanation, JSON). Kraków's ballots are ordinal: pb's greedy scores ranks 3, 2, 1,
and pabutools' greedy gets the same points through a PositionalSatisfaction (points x cost, as it orders by
satisfaction / cost); MES and Phragmén do not count ordinal ballots.

pabutools runs in a subprocess (fresh interpreter, killed at the limit: "> limit"), timing only the rule, not
its parser; with `--process` the CPU time of that whole subprocess (start, imports, parser, rule) is printed
beside pb's whole process. `--pabutools-python`: the interpreter that has pabutools 1.2.3 (e.g. a separate
virtual environment; the project's own does not need it).
`--pabutools-add1 final`: when the Add1 search hits the limit, pabutools' MES also runs at pb's final
per-voter budget b and at b + 1 (and twice at the first step, floor(budget / n)); "match" then reads
"yes*" when pabutools selects pb's set at b and overspends at b + 1 (the end of the search, not every step of
it), and the note gives an ESTIMATE of the full search, labelled "est.": the first run + the other steps x
the mean of the warm runs measured at both ends (Warsaw 2026 needs 186 steps at ~16 s: ~50 min, too long to
run; on Wieliczka 2023 the estimate said 104-108 s where the full search measured 96-98 s). The pabutools
counterpart of each rule:
  greedy                        greedy_utilitarian_welfare with Cost_Sat (= by approvals, skip what won't fit)
  equalshares                   method_of_equal_shares with Cost_Sat
  equalshares/add1              our Add1 definition driven through pabutools' MES
                                (method_of_equal_shares_scheme at floor(budget/n), +1, ... until the next
                                step overspends): the same rule in pabutools' arithmetic (its built-in Add1
                                stops at the first exhaustive outcome)
  equalshares/add1-comparison   the same, plus pabutools greedy and the comparison count
  phragmen                      sequential_phragmen
  greedy-threshold              no pabutools counterpart ("n/a")
Tie-breaking differs (pabutools: lexicographic by name; pb: lower cost, more votes, project order), so a
"match" column compares the selected sets.

Add1 by jumping (printed first, `--add1-only` for just that): pb's `equalshares/add1` search (mes.add1, the
jumping default, and the stepping definition where it finishes) on generated elections with huge budgets
(100 voters, 8 projects, budget 10^12 and 3.4 x 10^12; 18 voters, 29 projects, budget 880,217; seeded) and
on Warsaw 2026: CPU seconds, the median of `--add1-repeat` runs (min-max shown: the machine is shared), the
number of MES outcomes the search needed (evaluations) and of budgets the stepping search examines (steps),
and the CPU time of a whole `python -m tally run FILE --rule equalshares/add1 --json` process on the same
election (the generated ones written to a temporary .pb file).

pulp >= 3 dropped names pabutools 1.2.3 imports at module level (PULP_CBC_CMD, LpStatusOptimal); the
subprocess aliases them before importing pabutools (they are used only by ILP rules we do not run).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tally.engine import mes, pabulib, registry  # noqa: E402
from tally.engine.model import Ballot, Election, Instance, Profile, Project  # noqa: E402
from tally.engine.ties import TieBreak  # noqa: E402

SHARED = ROOT.parent / "shared" / "pabulib"
DEFAULT_FILES = ["Poland_Warszawa_2026.pb", "Poland_Lodz_2022.pb", "Poland_Krakow_2024.pb"]
RULES = [
    "greedy",
    "greedy-threshold",
    "equalshares",
    "equalshares/add1",
    "equalshares/add1-comparison",
    "phragmen",
]

PABUTOOLS_SCRIPT = r"""
import json, sys, time
import pulp
if not hasattr(pulp, "PULP_CBC_CMD"):
    pulp.PULP_CBC_CMD = pulp.COIN_CMD
if not hasattr(pulp, "LpStatusOptimal"):
    pulp.LpStatusOptimal = 1
from pabutools.election import parse_pabulib, Cost_Sat
from pabutools.rules import greedy_utilitarian_welfare, method_of_equal_shares, sequential_phragmen
from pabutools.rules.budgetallocation import BudgetAllocation
from pabutools.rules.mes.mes_rule import method_of_equal_shares_scheme
from pabutools.tiebreaking import lexico_tie_breaking

path, rule = sys.argv[1], sys.argv[2]
t0 = time.process_time()
instance, profile = parse_pabulib(path)
parse_time = time.process_time() - t0
budget = int(instance.budget_limit)
n = profile.num_ballots()

def names(alloc):
    return [str(p.name) for p in alloc]

def add1():
    sat_profile = profile.as_sat_profile(sat_class=Cost_Sat)
    b = budget // n
    current = None
    steps = 0
    while True:
        out = method_of_equal_shares_scheme(
            instance, profile, sat_profile, b, BudgetAllocation(), lexico_tie_breaking, binary_sat=True
        )
        steps += 1
        if sum(int(p.cost) for p in out) > budget:
            return current, steps
        current = out
        b += 1

def mes_at(b, sat_profile):
    t = time.process_time()
    out = method_of_equal_shares_scheme(
        instance, profile, sat_profile, b, BudgetAllocation(), lexico_tie_breaking, binary_sat=True
    )
    return out, time.process_time() - t

def comparison(sel):
    greedy = set(names(greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)))
    mes = set(sel)
    pm = pg = 0
    for ballot in profile:
        approved = {str(p.name) for p in ballot}
        a, g = len(approved & mes), len(approved & greedy)
        pm += a > g
        pg += g > a
    return [pm, pg], (sorted(greedy) if pg > pm else sel)

t0 = time.process_time()
extra = {}
if len(sys.argv) > 3:  # Add1 at pb's first and final per-voter budgets only: MES at b0 (twice), b, b + 1
    b = int(sys.argv[3])
    t = time.process_time()
    sat_profile = profile.as_sat_profile(sat_class=Cost_Sat)  # once, as in add1() (it caches satisfactions)
    mes_at(budget // n, sat_profile)  # the search's first run (caches warm up here)
    t_cold = time.process_time() - t  # with making the satisfaction profile, as add1() is timed
    _, t_warm = mes_at(budget // n, sat_profile)
    out, t_b = mes_at(b, sat_profile)
    nxt, t_next = mes_at(b + 1, sat_profile)
    sel = names(out)
    extra["final"] = {
        "b": b,
        "first": t_cold,
        "first_warm": t_warm,
        "per_run": [t_b, t_next],
        "fits": sum(int(p.cost) for p in out) <= budget,
        "next_overspends": sum(int(p.cost) for p in nxt) > budget,
    }
    if rule.endswith("comparison"):
        t = time.process_time()
        extra["prefer"], sel = comparison(sel)
        extra["final"]["comparison_time"] = time.process_time() - t
elif rule == "greedy" and instance.meta.get("vote_type") == "ordinal":
    # pb's points per rank k - i (k = max_length; Krakow: 3, 2, 1); pabutools' greedy orders by
    # satisfaction / cost, so the satisfaction is points x cost
    from pabutools.election import PositionalSatisfaction
    k = int(instance.meta.get("max_length") or max(len(b) for b in profile))
    class Points_Sat(PositionalSatisfaction):
        def __init__(self, instance, profile, ballot):
            PositionalSatisfaction.__init__(
                self, instance, profile, ballot, lambda b, p: (k - b.index(p)) * p.cost if p in b else 0, sum
            )
    t0 = time.process_time()
    sel = names(greedy_utilitarian_welfare(instance, profile, sat_class=Points_Sat))
elif rule == "greedy":
    sel = names(greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat))
elif rule == "equalshares":
    sel = names(method_of_equal_shares(instance, profile, sat_class=Cost_Sat))
elif rule in ("equalshares/add1", "equalshares/add1-comparison"):
    out, steps = add1()
    sel = names(out)
    extra["steps"] = steps
    if rule.endswith("comparison"):
        extra["prefer"], sel = comparison(sel)
elif rule == "phragmen":
    sel = names(sequential_phragmen(instance, profile))
else:
    print(json.dumps({"na": True}))
    sys.exit(0)
print(json.dumps({"selected": sel, "time": time.process_time() - t0, "parse": parse_time, **extra}))
"""

PABUTOOLS_RULES = {"greedy", "equalshares", "equalshares/add1", "equalshares/add1-comparison", "phragmen"}


def _child_cpu(before: resource.struct_rusage) -> float:
    """CPU seconds (user + system) of the children waited for since `before` (one subprocess)."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def process_cpu(path: Path, rule_id: str, repeat: int) -> list[float]:
    """CPU seconds (user + system) of whole `python -m tally run FILE --rule RULE --json` processes: the
    interpreter's start, the imports, reading the file, the count, its explanation and the JSON."""
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "tally", "run", str(path), "--rule", rule_id, "--json"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        times.append(_child_cpu(before))
    return times


def run_pabutools_median(path: Path, rule_id: str, limit: float, repeat: int) -> dict:
    """`run_pabutools` `repeat` times (stopping at the first timeout or error); "time" is the median."""
    runs = []
    for _ in range(max(1, repeat)):
        pt = run_pabutools(path, rule_id, limit)
        if "time" not in pt:
            return pt
        runs.append(pt)
    out = dict(runs[0])
    out["time"] = statistics.median(r["time"] for r in runs)
    out["process"] = statistics.median(r["process"] for r in runs)
    out["runs"] = len(runs)
    return out


PABUTOOLS_PYTHON = [sys.executable]  # --pabutools-python


def run_pabutools(path: Path, rule_id: str, limit: float, final_b: int | None = None) -> dict:
    """pabutools on one rule in a subprocess; `final_b`: Add1 rules only, MES at b and b + 1 (no search).
    "time": the rule's CPU seconds (after pabutools' parser); "process": the whole subprocess's CPU."""
    if rule_id not in PABUTOOLS_RULES:
        return {"na": True}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(
            [PABUTOOLS_PYTHON[0], "-c", PABUTOOLS_SCRIPT, str(path), rule_id]
            + ([] if final_b is None else [str(final_b)]),
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:100]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process": _child_cpu(before)}


def _final_estimate(path: Path, rule_id: str, out, best: float, limit: float) -> tuple[str, str]:
    """(match, note) from pabutools' MES at pb's final b and b + 1: the same set at b and an overspend at
    b + 1 is what the full search would end with (if every earlier step fits, as pb found). The time of the
    full search is ESTIMATED: its first run (measured at floor(budget / n), where pabutools also warms its
    caches) + the other steps x the mean of a warm run at floor(budget / n) and the runs at b and b + 1
    (a run takes longer as b grows). Wieliczka 2023: 104-108 s estimated, 96-98 s measured in full."""
    add1 = out.details["add1"]
    b, steps = int(add1["per_voter_budget"]), int(add1["steps"])
    pt = run_pabutools(path, rule_id, limit, final_b=b)
    if pt.get("timeout"):
        return "?", f" (pabutools at b={b}: > {limit:.0f}s)"
    if "error" in pt:
        return "?", f" (pabutools at b={b}: {pt['error']})"
    fin = pt["final"]
    # the run time grows with b (more projects affordable): the mean of the warm runs at both ends
    per_run = (fin["first_warm"] + sum(fin["per_run"]) / len(fin["per_run"])) / 2
    est = fin["first"] + (steps - 1) * per_run + fin.get("comparison_time", 0.0)
    same = sorted(pt["selected"]) == sorted(out.selected)
    ok = same and fin["fits"] and fin["next_overspends"]
    note = (
        f" | pabutools MES at b={b}: {'same set' if same else 'DIFFERENT set'}"
        f"{'' if fin['fits'] else ' (over budget!)'}, at b={b + 1}: "
        f"{'overspends' if fin['next_overspends'] else 'FITS (would not stop)'};"
        f" full search ~{est:.0f}s est. (first run {fin['first']:.1f}s + {steps - 1} steps x {per_run:.1f}s,"
        f" the mean of runs measured at b={int(b) - steps + 2} and b={b}, {b + 1}"
        f"{' + comparison' if 'comparison_time' in fin else ''}) = ~{est / best:.0f}x est."
    )
    return ("yes" if ok else "NO") + "*", note


def generated_election(seed: str, n: int, n_proj: int, budget: int) -> Election:
    """Approval ballots of 1-4 projects, costs between budget / (4 * projects) and 4 * budget / projects
    (seeded): about half of the projects fit."""
    import random

    rng = random.Random(seed)
    ids = [str(k + 1) for k in range(n_proj)]
    projects = {p: Project(p, rng.randint(budget // (4 * n_proj) + 1, 4 * budget // n_proj)) for p in ids}
    ballots = [Ballot(str(v), tuple(rng.sample(ids, rng.randint(1, min(4, n_proj))))) for v in range(n)]
    inst = Instance(meta={"budget": str(budget), "vote_type": "approval"}, projects=projects)
    return Election(inst, Profile("approval", ballots))


def _timed_add1(data: mes.MesData, method: str, repeat: int) -> tuple[list[float], mes.Add1Result]:
    times = []
    res = None
    for _ in range(repeat):
        tb = TieBreak.parse(None, data.ids)
        t0 = time.process_time()
        res = mes.add1(data, tb, method=method)
        times.append(time.process_time() - t0)
    return times, res


def add1_figures(repeat: int) -> None:
    """The Add1 search by jumping (and by stepping where that finishes in seconds)."""
    cases = [
        (
            "generated 100 voters, 8 projects, budget 10^12",
            generated_election("trillion", 100, 8, 10**12),
            (),
        ),
        (
            "generated 100 voters, 8 projects, budget 3.4e12",
            generated_election("3.4e12", 100, 8, 34 * 10**11),
            (),
        ),
        (
            "generated 18 voters, 29 projects, budget 880,217",
            generated_election("880217", 18, 29, 880_217),
            (),
        ),
    ]
    warsaw = SHARED / "Poland_Warszawa_2026.pb"
    if warsaw.exists():
        cases.append(("Poland_Warszawa_2026.pb", pabulib.read(warsaw), ("step",)))
    print(
        f"Add1 search, CPU seconds: median (min-max) of {repeat} runs; process: a whole"
        " `python -m tally run FILE --rule equalshares/add1 --json`"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, election, extra in cases:
            data = mes.prepare(election)
            path = SHARED / name
            if not path.exists():
                path = Path(tmp) / "generated.pb"
                pabulib.write_file(election, path)
            proc = process_cpu(path, "equalshares/add1", repeat)
            for method in ("jump", *extra):
                times, res = _timed_add1(data, method, repeat)
                mid = statistics.median(times)
                print(
                    f"  {name:50} {method:5} {mid:7.3f}s ({min(times):.3f}-{max(times):.3f})"
                    f"  evaluations {res.evaluations:>5,}  steps {res.steps:>16,}  b={res.per_voter:,}"
                    f"  {len(res.run.winners)} funded, {len(res.trace)} trace entries"
                    + (f"  process {statistics.median(proc):.3f}s" if method == "jump" else "")
                )
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--pabutools-limit", type=float, default=120.0, help="seconds per pabutools run")
    ap.add_argument(
        "--pabutools-add1",
        choices=("search", "final"),
        default="search",
        help="Add1 rules: 'search' runs pabutools' MES at every step up to the limit (the default); 'final' "
        "also, when that search hits the limit, runs pabutools' MES at pb's final per-voter budget b and at "
        "b + 1 only (same set at b? b + 1 overspends?) and prints an ESTIMATE of the full search: pb's "
        "number of steps x the measured time per run",
    )
    ap.add_argument(
        "--pabutools-final-limit", type=float, default=900.0, help="seconds for the two runs of 'final'"
    )
    ap.add_argument("--no-pabutools", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="pb runs per rule (the median is shown)")
    ap.add_argument(
        "--pabutools-repeat", type=int, default=1, help="pabutools runs per rule (the median is shown)"
    )
    ap.add_argument(
        "--process",
        action="store_true",
        help="also time whole `python -m tally run` processes per rule (CPU, median of --repeat)",
    )
    ap.add_argument("--no-add1-figures", action="store_true", help="skip the Add1 figures printed first")
    ap.add_argument("--add1-repeat", type=int, default=5, help="runs per Add1 figure (median is shown)")
    ap.add_argument("--add1-only", action="store_true", help="print the Add1 figures only")
    ap.add_argument(
        "--pabutools-python",
        default=sys.executable,
        help="the Python that has pabutools 1.2.3 (default: this one), e.g. a separate virtual environment's",
    )
    args = ap.parse_args(argv)
    PABUTOOLS_PYTHON[0] = args.pabutools_python
    if not args.no_add1_figures:
        add1_figures(max(1, args.add1_repeat))
    if args.add1_only:
        return 0
    files = args.files or [SHARED / f for f in DEFAULT_FILES if (SHARED / f).exists()]
    if not files:
        print("no files: give .pb paths (../shared/pabulib is absent)")
        return 2
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    print(
        "CPU seconds, median of runs. pb: the rule alone, in this process (--repeat runs); pabutools:\n"
        "the rule alone in a fresh subprocess, after its parser (--pabutools-repeat runs). n: projects pb\n"
        "funds. match: the same set of projects. process: a whole `python -m tally run --json` (start,\n"
        "imports, read, count, explanation, JSON; --process)."
    )
    print(f"{'file':38} {'rule':29} {'pb':>9} {'n':>3} {'pabutools':>11} {'match':>6} {'speed-up':>9}")
    for path in files:
        t0 = time.process_time()
        election = pabulib.read(path)
        parse = time.process_time() - t0
        inst = election.instance
        print(
            f"{path.name:38} {'(parse)':29} {parse:8.3f}s"
            f"      ({len(election.profile.ballots):,} voters, {len(inst.projects)} projects, "
            f"vote_type {inst.vote_type})"
        )
        for rule_id in rules:
            info = registry.get(rule_id)
            if inst.vote_type not in info.vote_types:
                print(f"{'':38} {rule_id:29} {'-':>9}  (does not count {inst.vote_type})")
                continue
            times = []
            out = None
            for _ in range(max(1, args.repeat)):
                t0 = time.process_time()
                try:
                    out = registry.run(rule_id, election)
                except ValueError as exc:
                    print(f"{'':38} {rule_id:29} {'-':>9}  ({exc})")
                    out = None
                    break
                times.append(time.process_time() - t0)
            if out is None:
                continue
            best = statistics.median(times)  # the figure compared (the median, despite the name)
            note = ""
            pb_process = None
            if args.process:
                pb_process = statistics.median(process_cpu(path, rule_id, max(1, args.repeat)))
                note += f" process {pb_process:.3f}s"
            if "add1" in out.details:
                note += f" b={out.details['add1']['per_voter_budget']} steps={out.details['add1']['steps']}"
            if "comparison" in out.details:
                c = out.details["comparison"]
                note += f" prefer mes/greedy={c['prefer_mes']}/{c['prefer_greedy']}"
            if args.no_pabutools:
                print(f"{'':38} {rule_id:29} {best:8.3f}s {len(out.selected):3}{note}")
                continue
            pt = run_pabutools_median(path, rule_id, args.pabutools_limit, args.pabutools_repeat)
            if pt.get("na"):
                ptime, match, ratio = "n/a", "", ""
            elif pt.get("timeout"):
                ptime, match = f"> {args.pabutools_limit:.0f}s", "?"
                ratio = f"> {args.pabutools_limit / best:.0f}x"
                if args.pabutools_add1 == "final" and "add1" in out.details:
                    match, est = _final_estimate(path, rule_id, out, best, args.pabutools_final_limit)
                    note += est
            elif "error" in pt:
                ptime, match, ratio = "error", "", ""
                note += f" (pabutools: {pt['error']})"
            else:
                ptime = f"{pt['time']:.3f}s"
                match = "yes" if sorted(pt["selected"]) == sorted(out.selected) else "NO"
                ratio = f"{pt['time'] / best:.0f}x"
                if "steps" in pt:
                    note += f" (pabutools steps={pt['steps']})"
                if pb_process is not None:
                    note += (
                        f" | whole process: pb {pb_process:.3f}s, pabutools {pt['process']:.3f}s"
                        f" = {pt['process'] / pb_process:.0f}x"
                    )
            row = f"{'':38} {rule_id:29} {best:8.3f}s {len(out.selected):3} {ptime:>11} {match:>6} {ratio:>9}"
            print(row + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
