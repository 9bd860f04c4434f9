"""The engine is a library: importing it (every module) or running `python -m tally rules` loads no Django."""

import json
import pkgutil
import subprocess
import sys

import tally.engine
from tests.tally.engine.support import ROOT

PROBE = """
import importlib, json, pkgutil, sys
import tally.engine
names = [m.name for m in pkgutil.iter_modules(tally.engine.__path__, "tally.engine.")]
for name in names:
    importlib.import_module(name)
sys.argv = ["python -m tally", "rules"]
import runpy
try:
    runpy.run_module("tally", run_name="__main__")
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(json.dumps({"modules": names, "django": sorted(m for m in sys.modules if m.split(".")[0] == "django")}),
      file=sys.stderr)
"""


def test_engine_and_cli_load_no_django():
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    expected = {m.name for m in pkgutil.iter_modules(tally.engine.__path__, "tally.engine.")}
    assert set(report["modules"]) == expected
    assert {"tally.engine.pabulib", "tally.engine.greedy", "tally.engine.cli"} <= expected
    assert report["django"] == []
    assert "greedy-threshold" in proc.stdout
