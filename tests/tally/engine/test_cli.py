"""`python -m tally` as a user runs it: run, compare, write-pb, rules, and one-line errors with status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tally.engine import pabulib
from tests.tally.engine.support import FIXTURES_PB, ROOT, run_cli

KRAKOW = FIXTURES_PB / "Poland_Krakow_2022_Stare_Miasto.pb"
CZESTOCHOWA = FIXTURES_PB / "Poland_Czestochowa_2024_Mirow.pb"


def test_run_json_has_the_documented_keys():
    proc = run_cli("run", str(KRAKOW), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in (
        "rule",
        "selected",
        "total_cost",
        "budget",
        "rounds",
        "tie_breaks",
        "unfunded",
        "unfunded_why",
        "engine",
        "metrics",
        "tie_break",
    ):
        assert key in out
    assert out["rule"] == "greedy"
    assert out["engine"]["version"]
    assert out["tie_break"]["order"][:3] == ["1", "4", "7"]  # numeric id order
    assert out["rounds"][0] == {
        "position": 1,
        "project": "36",
        "score": 1203,
        "cost": 120000,
        "decision": "funded",
        "remaining_before": 1260803,
        "remaining_after": 1140803,
        "why": {
            "code": "funded_fits",
            "position": 1,
            "score": 1203,
            "cost": 120000,
            "remaining_before": 1260803,
            "remaining_after": 1140803,
        },
        "reason": "fits: cost 120000 of 1260803 remaining",
    }
    assert out["details"]["unsupported"] == "never"


def test_run_table_and_rule_option():
    proc = run_cli("run", str(CZESTOCHOWA), "--rule", "greedy-no-skip")
    assert proc.returncode == 0, proc.stderr
    assert "rule greedy-no-skip" in proc.stdout
    assert "counting stops here" in proc.stdout
    proc = run_cli("run", str(KRAKOW), "--option", "points=1,1,1", "--json")
    assert json.loads(proc.stdout)["details"]["score"].startswith("points per rank, option points 1,1,1")


def test_seed_changes_the_published_order():
    a = json.loads(run_cli("run", str(KRAKOW), "--seed", "x", "--json").stdout)["tie_break"]
    b = json.loads(run_cli("run", str(KRAKOW), "--seed", "x", "--json").stdout)["tie_break"]
    assert a == b and a["seed"] == "x"
    assert a["order"] != sorted(a["order"], key=int)


def test_compare_side_by_side():
    proc = run_cli("compare", str(CZESTOCHOWA), "--rules", "greedy,greedy-no-skip")
    assert proc.returncode == 0, proc.stderr
    assert "greedy-no-skip" in proc.stdout and "voters with a funded project" in proc.stdout
    proc = run_cli("compare", str(CZESTOCHOWA), "--rules", "greedy,greedy-no-skip", "--json")
    out = json.loads(proc.stdout)
    assert set(out["rules"]) == {"greedy", "greedy-no-skip"}
    assert "metrics" in out["rules"]["greedy"]


def test_rules_lists_the_registry():
    proc = run_cli("rules", "--json")
    ids = {r["id"] for r in json.loads(proc.stdout)}
    assert {"greedy", "greedy-threshold", "greedy-no-skip"} <= ids


def test_write_pb_normalises_a_file(tmp_path):
    out = tmp_path / "k.pb"
    proc = run_cli("write-pb", str(KRAKOW), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert pabulib.write(pabulib.read(KRAKOW)) == out.read_text(encoding="utf-8")


def test_write_pb_from_json_lines(tmp_path):
    lines = [
        {
            "meta": {"budget": 100, "vote_type": "approval", "rule": "greedy", "description": "Demo; pot"},
            "projects": [{"project_id": "A1", "cost": 60, "name": "Park"}, {"project_id": "A2", "cost": 50}],
        },
        {"voter_id": "r1", "vote": ["A1", "A2"], "channel": "online"},
        {"voter_id": "r2", "vote": ["A2"], "channel": "paper"},
    ]
    src = tmp_path / "ballots.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    proc = run_cli("write-pb", "--jsonl", str(src))
    assert proc.returncode == 0, proc.stderr
    e = pabulib.parse(proc.stdout)
    assert [b.projects for b in e.profile.ballots] == [("A1", "A2"), ("A2",)]
    assert e.profile.voter_columns == ["voter_id", "vote", "channel"]
    assert e.instance.meta["description"] == "Demo; pot"
    # stdin, then count it
    proc = run_cli("write-pb", "--jsonl", "-", stdin=src.read_text())
    (tmp_path / "x.pb").write_text(proc.stdout)
    assert json.loads(run_cli("run", str(tmp_path / "x.pb"), "--json").stdout)["selected"] == ["A2"]


def _bad(tmp_path, text: str):
    path = tmp_path / "bad.pb"
    path.write_text(text)
    return str(path)


GOOD = (
    "META\nkey;value\nbudget;100\nvote_type;approval\n"
    "PROJECTS\nproject_id;cost\n1;60\nVOTES\nvoter_id;vote\na;1\n"
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "/nonexistent/x.pb"], "no such file"),
        (["run", "{bad}"], "line 10: voter 'a' votes for unknown project '2'"),
        (["run", "{good}", "--rule", "nope"], "unknown rule 'nope'"),
        (["run", "{good}"], "names no rule"),
        (["run", "{good}", "--rule", "greedy-threshold"], "needs a threshold"),
        (["run", "{good}", "--rule", "greedy", "--tie-break", "luck"], "unknown tie-break criterion 'luck'"),
        (["run", "{good}", "--rule", "greedy", "--option", "budget"], "--option needs KEY=VALUE"),
        (
            ["run", "{good}", "--rule", "greedy", "--option", "budget=lots"],
            "option budget must be an integer",
        ),
        (["compare", "{good}", "--rules", "greedy,nope"], "unknown rule 'nope'"),
        (["frobnicate"], "invalid choice"),
        (["run"], "the following arguments are required: file"),
        (["write-pb"], "write-pb needs either a .pb FILE or --jsonl FILE"),
        (["write-pb", "--jsonl", "{jsonl}"], "line 2: a ballot needs 'voter_id' and 'vote'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    good = _bad(tmp_path, GOOD)
    bad = str(tmp_path / "worse.pb")
    (tmp_path / "worse.pb").write_text(GOOD.replace("a;1", "a;2"))
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text('{"meta": {"budget": 1}, "projects": []}\n{"vote": []}\n')
    args = [a.format(good=good, bad=bad, jsonl=jsonl) for a in args]
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rule_not_counting_this_vote_type(tmp_path):
    """A registered rule that does not count ordinal ballots (approval-only MES / Phragmén, when present)."""
    from tally.engine import registry

    approval_only = [r.id for r in registry.load_all().values() if "ordinal" not in r.vote_types]
    if not approval_only:
        pytest.skip("no registered rule refuses ordinal ballots yet")
    proc = run_cli("run", str(KRAKOW), "--rule", approval_only[0])
    assert proc.returncode == 2
    assert "does not count 'ordinal' ballots" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_counting_commands_do_not_import_the_verifier_but_its_commands_work():
    """`run` and the other built-in commands skip importing verify/signoff (25 ms); `verify` and `--help`
    still find them."""
    probe = (
        "import sys; from tally.engine import cli; "
        "code = cli.main(['rules']); "
        "print(code, 'tally.engine.verify' in sys.modules, 'tally.engine.signoff' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.stdout.strip().splitlines()[-1] == "0 False False", proc.stderr
    assert "verify" in run_cli("--help").stdout
    helped = run_cli("verify", "--help")
    assert helped.returncode == 0 and "--key" in helped.stdout


def test_the_command_line_exits_without_teardown_only_when_no_exit_handler_would_run():
    """`python -m tally` skips the interpreter's teardown (os._exit) after flushing its output, but a
    registered exit handler (coverage, a profiler) still runs; one BLAS thread unless the user chose."""
    args = ["run", str(FIXTURES_PB / "Netherlands_Assen_2024.pb"), "--rule", "equalshares", "--json"]
    plain = run_cli(*args)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["selected"]  # the whole JSON arrived through the pipe
    probe = (
        "import atexit, os, runpy, sys\n"
        "atexit.register(lambda: print('handler ran', os.environ['OPENBLAS_NUM_THREADS'], file=sys.stderr))\n"
        f"sys.argv = ['python -m tally', *{args!r}]\n"
        "runpy.run_module('tally', run_name='__main__')\n"
    )
    unset = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for env, threads in ((unset, "1"), ({**unset, "OPENBLAS_NUM_THREADS": "3"}, "3")):
        proc = subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == json.loads(plain.stdout)
        assert proc.stderr.strip().splitlines()[-1] == f"handler ran {threads}"
    missing = run_cli("run", "no-such-file.pb")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


def test_a_count_imports_only_the_rule_modules_it_needs():
    """`registry.get` imports rule modules in order until the rule is found: a greedy count loads neither MES
    nor Phragmén, an MES count not Phragmén; an unknown rule still lists every rule."""
    probe = (
        "import sys; from tally.engine import registry\n"
        "registry.get('greedy-threshold')\n"
        "print(sorted(m for m in ('tally.engine.mes', 'tally.engine.phragmen') if m in sys.modules))\n"
        "registry.get('equalshares/add1'); print('tally.engine.phragmen' in sys.modules)\n"
        "try:\n    registry.get('no-such-rule')\nexcept registry.UnknownRule as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    first, second, unknown = proc.stdout.strip().splitlines()
    assert first == "[]" and second == "False"
    assert (
        "unknown rule 'no-such-rule'" in unknown and "phragmen" in unknown and "equalshares/add1" in unknown
    )


PLAIN_RUNS = [
    ["run", "f.pb"],
    ["run", "f.pb", "--json"],
    ["run", "--json", "f.pb", "--rule", "equalshares/add1"],
    ["run", "--rule", "phragmen", "f.pb"],
    ["run", "f.pb", "--rule", ""],
    ["run", "", "--json"],
]
OTHER_ARGS = [
    ["run"],
    ["run", "--json"],
    ["run", "f.pb", "g.pb"],
    ["run", "f.pb", "--rule"],
    ["run", "f.pb", "--rule", "-x"],
    ["run", "f.pb", "--rule=greedy"],
    ["run", "f.pb", "--ru", "greedy"],
    ["run", "f.pb", "--js"],
    ["run", "f.pb", "--json", "--json"],
    ["run", "f.pb", "--rule", "greedy", "--rule", "phragmen"],
    ["run", "f.pb", "--seed", "7"],
    ["run", "f.pb", "--option", "k=v"],
    ["run", "f.pb", "--tie-break", "cost"],
    ["run", "--", "f.pb"],
    ["run", "-5"],
    ["run", "f.pb", "--help"],
    ["compare", "f.pb", "--rules", "greedy"],
    ["--version"],
    [],
]


def test_plain_run_arguments_are_those_of_the_parser():
    """`run FILE [--rule R] [--json]` is read without building the parser (~5 ms): to the same values; any
    other command line goes to the parser."""
    from tally.engine import cli

    parser = cli.build_parser(command_modules=False)
    for words in PLAIN_RUNS:
        quick = cli._plain_run(words)
        assert quick is not None, words
        assert vars(quick) == vars(parser.parse_args(words)), words
    for words in OTHER_ARGS:
        assert cli._plain_run(words) is None, words
    probe = (
        "import sys; from tally.engine import cli\n"
        f"code = cli.main(['run', {str(FIXTURES_PB / 'Netherlands_Assen_2024.pb')!r}, '--rule', 'greedy'])\n"
        "print(code, 'argparse' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.stderr.strip().splitlines()[-1] == "0 False", proc.stderr
    assert "Assen" in proc.stdout
