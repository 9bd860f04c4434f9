"""Time pb's tally engine per rule on real Pabulib files, and pabutools on the same rule where it can run.

    .venv/bin/python bench/tally.py [FILE.pb ...] [--rules greedy,equalshares/add1] [--pabutools-limit 120]
                                    [--no-pabutools]

Default files: Poland_Warszawa_2026.pb, Poland_Lodz_2022.pb, Poland_Wieliczka_2023_Green_Budget.pb under
../shared/pabulib (when present). Prints figures; asserts nothing about time. Times are CPU seconds of the
process (time.process_time), for pb and for pabutools alike: the machine is shared, and wall time mostly
measures the neighbours. The pabutools limit is wall time.

pabutools runs in a subprocess (fresh interpreter, killed at the limit: "> limit"), timing only the rule, not
its parser. The pabutools counterpart of each rule:
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

pulp >= 3 dropped names pabutools 1.2.3 imports at module level (PULP_CBC_CMD, LpStatusOptimal); the
subprocess aliases them before importing pabutools (they are used only by ILP rules we do not run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tally.engine import pabulib, registry  # noqa: E402

SHARED = ROOT.parent / "shared" / "pabulib"
DEFAULT_FILES = ["Poland_Warszawa_2026.pb", "Poland_Lodz_2022.pb", "Poland_Wieliczka_2023_Green_Budget.pb"]
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

t0 = time.process_time()
extra = {}
if rule == "greedy":
    sel = names(greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat))
elif rule == "equalshares":
    sel = names(method_of_equal_shares(instance, profile, sat_class=Cost_Sat))
elif rule in ("equalshares/add1", "equalshares/add1-comparison"):
    out, steps = add1()
    sel = names(out)
    extra["steps"] = steps
    if rule.endswith("comparison"):
        greedy = set(names(greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)))
        mes = set(sel)
        pm = pg = 0
        for ballot in profile:
            approved = {str(p.name) for p in ballot}
            a, g = len(approved & mes), len(approved & greedy)
            pm += a > g
            pg += g > a
        extra["prefer"] = [pm, pg]
        if pg > pm:
            sel = sorted(greedy)
elif rule == "phragmen":
    sel = names(sequential_phragmen(instance, profile))
else:
    print(json.dumps({"na": True}))
    sys.exit(0)
print(json.dumps({"selected": sel, "time": time.process_time() - t0, "parse": parse_time, **extra}))
"""

PABUTOOLS_RULES = {"greedy", "equalshares", "equalshares/add1", "equalshares/add1-comparison", "phragmen"}


def run_pabutools(path: Path, rule_id: str, limit: float) -> dict:
    if rule_id not in PABUTOOLS_RULES:
        return {"na": True}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PABUTOOLS_SCRIPT, str(path), rule_id],
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:100]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--pabutools-limit", type=float, default=120.0, help="seconds per pabutools run")
    ap.add_argument("--no-pabutools", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs per rule (best time is shown)")
    args = ap.parse_args(argv)
    files = args.files or [SHARED / f for f in DEFAULT_FILES if (SHARED / f).exists()]
    if not files:
        print("no files: give .pb paths (../shared/pabulib is absent)")
        return 2
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
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
            best = float("inf")
            out = None
            for _ in range(max(1, args.repeat)):
                t0 = time.process_time()
                try:
                    out = registry.run(rule_id, election)
                except ValueError as exc:
                    print(f"{'':38} {rule_id:29} {'-':>9}  ({exc})")
                    break
                best = min(best, time.process_time() - t0)
            if out is None:
                continue
            note = ""
            if "add1" in out.details:
                note = f" b={out.details['add1']['per_voter_budget']} steps={out.details['add1']['steps']}"
            if "comparison" in out.details:
                c = out.details["comparison"]
                note += f" prefer mes/greedy={c['prefer_mes']}/{c['prefer_greedy']}"
            if args.no_pabutools:
                print(f"{'':38} {rule_id:29} {best:8.3f}s {len(out.selected):3}{note}")
                continue
            pt = run_pabutools(path, rule_id, args.pabutools_limit)
            if pt.get("na"):
                ptime, match, ratio = "n/a", "", ""
            elif pt.get("timeout"):
                ptime, match = f"> {args.pabutools_limit:.0f}s", "?"
                ratio = f"> {args.pabutools_limit / best:.0f}x"
            elif "error" in pt:
                ptime, match, ratio = "error", "", ""
                note += f" (pabutools: {pt['error']})"
            else:
                ptime = f"{pt['time']:.3f}s"
                match = "yes" if sorted(pt["selected"]) == sorted(out.selected) else "NO"
                ratio = f"{pt['time'] / best:.0f}x"
                if "steps" in pt:
                    note += f" (pabutools steps={pt['steps']})"
            row = f"{'':38} {rule_id:29} {best:8.3f}s {len(out.selected):3} {ptime:>11} {match:>6} {ratio:>9}"
            print(row + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
