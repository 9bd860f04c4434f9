"""`python -m tally`: count a Pabulib file, compare rules, write .pb files, list the rules.

    python -m tally run FILE.pb [--rule ID] [--tie-break cost,score,order] [--seed S]
                                [--option KEY=VALUE ...] [--json]
    python -m tally compare FILE.pb --rules greedy,equalshares/add1 [--json] [same options as run]
    python -m tally write-pb FILE.pb [-o OUT.pb]              normalise / check a .pb file
    python -m tally write-pb --jsonl BALLOTS.jsonl [-o OUT.pb] build a .pb from JSON lines (see below)
    python -m tally rules                                      list the counting rules

Without --rule, `run` uses the file's META `rule`. `--json` prints one JSON object: the rule's outcome
(`Outcome.to_json()`: rule, selected in funding order, total_cost, budget, rounds, tie_breaks, unfunded,
details, scores, engine) plus `metrics` (tally.engine.metrics) and `tie_break` (the declared chain, seed and
published order). Bad input (missing or malformed file, unknown rule, rule that does not count this vote type,
bad option) exits with status 2 and one line on stderr, never a traceback.

JSON lines for `write-pb --jsonl` (what the Django side exports; `pabulib.build()` is the library form):
    line 1:  {"meta": {"budget": 100000, "vote_type": "approval", "rule": "greedy", ...},
              "projects": [{"project_id": "1", "cost": 5000, "name": "Park"}, ...]}
    then one line per ballot: {"voter_id": "b7f3...", "vote": ["1", "4"]}
              (+ "points": [3, 1] for cumulative/scoring; any other key becomes a VOTES column).
The result is validated exactly like a file read from disk.

Adding a subcommand (e.g. `verify`): write a module with `register(subparsers)` that adds its parser and
`set_defaults(func=handler)` (handler(args) -> exit status), and name the module in COMMAND_MODULES below.
`tally.engine.verify` is already listed: it is picked up as soon as it exists.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

from tally.engine import ENGINE_NAME, ENGINE_VERSION, metrics, pabulib, registry
from tally.engine.model import Election
from tally.engine.result import Outcome
from tally.engine.ties import TieBreak

if TYPE_CHECKING:
    import argparse

COMMAND_MODULES: tuple[str, ...] = ("tally.engine.verify", "tally.engine.signoff")


WRITE_PB_HELP = """Check and rewrite a .pb file (normalised: LF line ends, minimal quoting, every column
kept), or build one from JSON lines, validated exactly like a file read from disk:

  line 1:  {"meta": {"budget": 100000, "vote_type": "approval", "rule": "greedy", ...},
            "projects": [{"project_id": "1", "cost": 5000, "name": "Park"}, ...]}
  then one line per ballot: {"voter_id": "b7f3", "vote": ["1", "4"]}
            (+ "points": [3, 1] for cumulative/scoring; any other key becomes a VOTES column)

num_projects, num_votes and vote_type (approval) are filled in when absent. The library form is
tally.engine.pabulib.build(meta=..., projects=..., ballots=...) then pabulib.write()."""


class UsageError(ValueError):
    """Bad input on the command line: exit status 2, one line on stderr."""


# ---------------------------------------------------------------------------------------------- helpers


def _options(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option needs KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _tie_break(args: argparse.Namespace, election: Election) -> TieBreak:
    return TieBreak.parse(args.tie_break, list(election.instance.projects), seed=args.seed)


def _count(rule_id: str, election: Election, tb: TieBreak, options: dict) -> Outcome:
    return registry.run(rule_id, election, tie_break=tb, options=options)


def _rule_of(args: argparse.Namespace, election: Election) -> str:
    rule_id = args.rule or election.instance.meta.get("rule", "").strip()
    if not rule_id:
        raise UsageError("the file names no rule in META; give one with --rule (see `python -m tally rules`)")
    return rule_id


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    election = pabulib.read(args.file)
    rule_id = _rule_of(args, election)
    tb = _tie_break(args, election)
    outcome = _count(rule_id, election, tb, _options(args.option))
    m = metrics.compute(election, outcome)
    if args.json:
        _print_json({**outcome.to_json(), "metrics": m, "tie_break": tb.describe()})
        return 0
    inst = election.instance
    out = sys.stdout
    out.write(f"{inst.meta.get('description', Path(args.file).name)}\n")
    out.write(
        f"rule {outcome.rule}   budget {outcome.budget}   spent {outcome.total_cost} "
        f"({_pct(m['budget_used'])})   voters {m['voters']}   engine {ENGINE_NAME} {ENGINE_VERSION}\n"
    )
    out.write(f"tie-break {','.join(tb.chain)}" + (f" (seed {tb.seed!r})" if tb.seed else "") + "\n\n")
    out.write(f"{'#':>3}  {'project':<14} {'cost':>12} {'score':>9}  name\n")
    for i, pid in enumerate(outcome.selected, start=1):
        p = inst.projects[pid]
        out.write(f"{i:>3}  {pid:<14} {p.cost:>12} {outcome.scores.get(pid, ''):>9}  {_short(p.name, 50)}\n")
    if outcome.unfunded:
        out.write("\nnot funded\n")
        for pid, reason in outcome.unfunded.items():
            out.write(f"     {pid:<14} {inst.projects[pid].cost:>12}  {reason}\n")
    if outcome.tie_breaks:
        out.write("\nties broken\n")
        for t in outcome.tie_breaks:
            out.write(f"     {t.context}: {', '.join(t.candidates)} -> {t.winner} ({t.reason})\n")
    out.write(
        f"\nvoters with a funded project {_pct(m['voters_with_funded'])}   "
        f"funded projects per voter {m['avg_funded_per_voter']:.3f}   "
        f"budget share per voter {_pct(m['avg_budget_share'])}\n"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    election = pabulib.read(args.file)
    rule_ids = [r.strip() for r in args.rules.split(",") if r.strip()]
    if not rule_ids:
        raise UsageError("--rules needs at least one rule id")
    tb = _tie_break(args, election)
    options = _options(args.option)
    results = {}
    for rid in rule_ids:
        o = _count(rid, election, tb, options)
        results[rid] = (o, metrics.compute(election, o))
    if args.json:
        _print_json(
            {
                "rules": {rid: {**o.to_json(), "metrics": m} for rid, (o, m) in results.items()},
                "tie_break": tb.describe(),
            }
        )
        return 0
    inst = election.instance
    out = sys.stdout
    width = max(12, *(len(r) for r in rule_ids))
    out.write(f"{'project':<14} {'cost':>12}  " + "  ".join(f"{r:^{width}}" for r in rule_ids) + "  name\n")
    for pid, p in inst.projects.items():
        marks = []
        for o, _ in results.values():
            marks.append(f"{('#' + str(o.selected.index(pid) + 1)) if pid in o.selected else '-':^{width}}")
        out.write(f"{pid:<14} {p.cost:>12}  " + "  ".join(marks) + f"  {_short(p.name, 40)}\n")
    rows = [
        ("projects funded", lambda o, m: str(len(o.selected))),
        ("total cost", lambda o, m: str(o.total_cost)),
        ("budget used", lambda o, m: _pct(m["budget_used"])),
        ("voters with a funded project", lambda o, m: _pct(m["voters_with_funded"])),
        ("funded projects per voter", lambda o, m: f"{m['avg_funded_per_voter']:.3f}"),
        ("budget share per voter", lambda o, m: _pct(m["avg_budget_share"])),
        ("ties broken", lambda o, m: str(len(o.tie_breaks))),
    ]
    out.write("\n")
    for label, fn in rows:
        out.write(f"{label:<28}  " + "  ".join(f"{fn(o, m):^{width}}" for o, m in results.values()) + "\n")
    return 0


def _read_jsonl(source: str) -> Election:
    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise UsageError(f"{source}: cannot read ({exc.strerror})") from None
    lines = [(k, line) for k, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise UsageError(f'{source}: empty; line 1 must be {{"meta": ..., "projects": ...}}')
    records = []
    for k, line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source} line {k}: not JSON ({exc.msg})") from None
    head = records[0]
    if not isinstance(head, dict) or "meta" not in head or "projects" not in head:
        raise UsageError(f"{source} line {lines[0][0]}: must be an object with 'meta' and 'projects'")
    for (k, _), rec in zip(lines[1:], records[1:], strict=True):
        if not isinstance(rec, dict) or "voter_id" not in rec or "vote" not in rec:
            raise UsageError(f"{source} line {k}: a ballot needs 'voter_id' and 'vote'")
    return pabulib.build(meta=head["meta"], projects=head["projects"], ballots=records[1:])


def cmd_write_pb(args: argparse.Namespace) -> int:
    if bool(args.file) == bool(args.jsonl):
        raise UsageError("write-pb needs either a .pb FILE or --jsonl FILE (not both)")
    election = _read_jsonl(args.jsonl) if args.jsonl else pabulib.read(args.file)
    text = pabulib.write(election)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8", newline="\n")
        sys.stderr.write(
            f"wrote {args.output}: {len(election.instance.projects)} projects, "
            f"{len(election.profile.ballots)} ballots\n"
        )
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    rules = registry.load_all()
    if args.json:
        _print_json(
            [
                {"id": r.id, "description": r.description, "vote_types": list(r.vote_types)}
                for r in rules.values()
            ]
        )
        return 0
    for r in sorted(rules.values(), key=lambda r: r.id):
        sys.stdout.write(f"{r.id:<30} {r.description}\n{'':<30} vote types: {', '.join(r.vote_types)}\n")
    return 0


# ---------------------------------------------------------------------------------------------- parser


def _add_count_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tie-break", default=None, help="criteria in order (default cost,score,order)")
    p.add_argument("--seed", default=None, help="published order drawn from this seed instead of id order")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="rule option (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


BUILTIN_COMMANDS = ("run", "compare", "write-pb", "rules")


def build_parser(*, command_modules: bool = True) -> argparse.ArgumentParser:
    """The whole parser; `command_modules=False` leaves out the commands of COMMAND_MODULES (importing
    verify and signoff costs 25 ms of CPU, a ninth of `python -m tally run` MES on Warsaw 2026)."""
    import argparse  # here: `python -m tally run FILE [--rule R] [--json]` does without it (_plain_run)

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(message)

    parser = _Parser(prog="python -m tally", description="pb's tally engine: count Pabulib .pb files.")
    parser.add_argument("--version", action="version", version=f"{ENGINE_NAME} {ENGINE_VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="count one file with one rule")
    p.add_argument("file")
    p.add_argument("--rule", default=None, help="rule id (default: the file's META rule)")
    _add_count_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="count one file with several rules, side by side")
    p.add_argument("file")
    p.add_argument("--rules", required=True, help="comma list of rule ids")
    _add_count_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "write-pb",
        help="normalise a .pb file, or build one from JSON lines",
        description=WRITE_PB_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", help="a .pb file to check and rewrite")
    p.add_argument(
        "--jsonl", help="JSON lines: first {meta, projects}, then one ballot per line ('-' = stdin)"
    )
    p.add_argument("-o", "--output", help="where to write (default stdout)")
    p.set_defaults(func=cmd_write_pb)

    p = sub.add_parser("rules", help="list the counting rules")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rules)

    for name in COMMAND_MODULES if command_modules else ():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        words = sys.argv[1:] if argv is None else argv
        args = _plain_run(words)
        if args is None:
            command = next((w for w in words if not w.startswith("-")), None)
            parser = build_parser(command_modules=command not in BUILTIN_COMMANDS)
            args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `python -m tally run F | head`
        return 0
    except (UsageError, pabulib.PabulibError, ValueError, OSError) as exc:
        # ValueError covers UnknownRule, vote types a rule does not count, bad options and tie-break specs.
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as exc:
        if os.environ.get("PB_TALLY_DEBUG"):
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {_one_line(exc)} (PB_TALLY_DEBUG=1 for details)\n"
        )
        return 1


def _plain_run(words: list[str]) -> SimpleNamespace | None:
    """The arguments of the everyday `run FILE [--rule R] [--json]` (options in any order, each at most
    once, no value starting with "-"), exactly as the parser would give them; None for anything else,
    which the parser reads. Building the parser costs ~5 ms of CPU (argparse, its translations lookup and
    shutil), 2-3% of a whole MES count of Warsaw 2026."""
    if not words or words[0] != "run":
        return None
    args = SimpleNamespace(
        command="run", file=None, rule=None, tie_break=None, seed=None, option=None, json=False, func=cmd_run
    )
    rest = iter(words[1:])
    for word in rest:
        if word == "--json" and not args.json:
            args.json = True
        elif word == "--rule" and args.rule is None:
            args.rule = next(rest, None)
            if args.rule is None or args.rule.startswith("-"):
                return None
        elif word.startswith("-") or args.file is not None:
            return None
        else:
            args.file = word
    return args if args.file is not None else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
