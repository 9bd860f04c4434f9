"""A database made by the previous main still works after `migrate` with this code.

fixtures/migration/main-6b39b69.tar.gz holds what `make demo` left at commit 6b39b69 (before the frozen
definition and the ballot log moved from `tally` to `ballots`): the SQLite database after `migrate` and
`demo_load`, and its PB_VAR_DIR (published files, the TEST ONLY demo keys). The test migrates a copy with
this code, then checks what depends on the moved tables: the certified riverton-2025 election re-verifies
from the database (every file rebuilt from the ballot, log and audit tables and checked against the signed
manifest and PDF), the frozen definitions still match their hashes, the ballot log still matches the
ballots, and the public pages that read them answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "fixtures" / "migration" / "main-6b39b69.tar.gz"

CHECK = r"""
import json
from django.test import Client
from ballots.ballotbox.sealing import log_problems
from ballots.definition import frozen_definition
from ballots.models import BallotLog, DefinitionFreeze, LogBatch
from pb.core.audit import audit_verify
from pb.core.models import Election
from tally.certification.services import certification_check
from tally.engine.canonical import sha256_hex

out = {"freezes": 0, "batches": LogBatch.objects.count(), "logs": BallotLog.objects.count()}
for freeze in DefinitionFreeze.objects.select_related("election"):
    definition, sha = frozen_definition(freeze.election)
    assert sha == freeze.sha256 == sha256_hex(freeze.canonical.encode()), freeze.election.slug
    out["freezes"] += 1
for log in BallotLog.objects.select_related("election"):
    assert log_problems(log.election) == [], log.election.slug
published = Election.objects.get(slug="riverton-2025")
report = certification_check(published)
out["check_ok"] = report.ok
out["check_failed"] = report.failed()
out["check_steps"] = len(report.steps)
_head, count, problems = audit_verify()
out["audit_entries"], out["audit_problems"] = count, len(problems)
client = Client()
out["pages"] = {
    url: client.get(url).status_code
    for url in ("/", "/results/riverton-2025/", "/results/riverton-2025/log/")

}
print("RESULT " + json.dumps(out))
"""


def test_a_database_from_the_previous_main_migrates_and_still_verifies(tmp_path):
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    var = tmp_path / "var"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PB_VAR_DIR": str(var),
        "PB_SIGNING_KEY_FILE": str(var / "k"),
        "PB_SIGNING_CERT_FILE": str(var / "c.pem"),
        "PB_SIGNING_CERT_KEY_FILE": str(var / "ck"),
        "PB_AUDIT_KEY_FILE": str(var / "ak"),
    }
    env.pop("DJANGO_SECRET_KEY", None)  # the demo's audit MACs were made under the default development key
    env.pop("PB_HMAC_KEY", None)

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    plan = manage("showmigrations", "--plan")
    assert "[ ]  ballots.0007_ballot_box_from_tally" in plan  # the archive really predates the move
    manage("migrate", "--noinput")
    assert "[ ]" not in manage("showmigrations", "--plan")
    line = next(x for x in manage("shell", "-c", CHECK).splitlines() if x.startswith("RESULT "))
    result = __import__("json").loads(line.removeprefix("RESULT "))
    assert result["freezes"] >= 2 and result["logs"] >= 2 and result["batches"] > 0, result
    assert result["check_ok"] and result["check_steps"] > 10, result["check_failed"]
    assert result["audit_problems"] == 0 and result["audit_entries"] > 100, result
    assert set(result["pages"].values()) == {200}, result["pages"]


@pytest.mark.parametrize("name", ["db.sqlite3", "var/elections/riverton-2025/result-riverton-2025.pdf"])
def test_the_archive_holds_what_the_test_needs(name):
    # A fresh clone has the archive (it is small and committed); if it went missing the test above would
    # fail on opening it, this one says what is missing.
    with tarfile.open(ARCHIVE) as archive:
        assert name in archive.getnames()
