"""`python -m tally signoff-bundle`: count the downloaded ballot file of every pot and write the one JSON
file an official uploads to sign off, {"<pot slug>": <what python -m tally run ballots-<pot slug>.pb --json
prints>, ...}: the per-pot commands and the joining step in one, with no shell redirection (which some
shells write in UTF-16)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tally.engine import metrics, pabulib
from tally.engine.cli import UsageError, _count, _options, _rule_of, _tie_break

_NAME = re.compile(r"^ballots-(?P<slug>[A-Za-z0-9_-]+)\.pb$")


def cmd_signoff_bundle(args: argparse.Namespace) -> int:
    bundle = {}
    for file in args.files:
        match = _NAME.match(Path(file).name)
        if match is None:
            raise UsageError(f"{file}: name the files as downloaded, ballots-<pot>.pb")
        slug = match["slug"]
        if slug in bundle:
            raise UsageError(f"{file}: pot {slug!r} given twice")
        election = pabulib.read(file)
        tb = _tie_break(args, election)
        outcome = _count(_rule_of(args, election), election, tb, _options(args.option))
        m = metrics.compute(election, outcome)
        bundle[slug] = {**outcome.to_json(), "metrics": m, "tie_break": tb.describe()}
    text = json.dumps(bundle, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {args.output}: {', '.join(bundle)}\n")
    else:
        sys.stdout.write(text)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "signoff-bundle",
        help="count every pot's ballots-<pot>.pb and write the JSON an official uploads to sign off",
    )
    p.add_argument("files", nargs="+", help="the ballots-<pot>.pb files, one per pot, as downloaded")
    p.add_argument("--rule", default=None, help="rule id (default: each file's META rule)")
    p.add_argument("--tie-break", default=None, help="criteria in order (default cost,score,order)")
    p.add_argument("--seed", default=None, help="published order drawn from this seed instead of id order")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="rule option (repeatable)")
    p.add_argument("-o", "--output", help="where to write (default stdout), e.g. signoff.json")
    p.set_defaults(func=cmd_signoff_bundle)
