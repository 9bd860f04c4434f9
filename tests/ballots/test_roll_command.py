"""`manage.py roll_import`: the same service from the shell."""

import io

import pytest
from django.core.management import CommandError, call_command

from ballots.models import VoterRollEntry
from pb.core.models import Phase
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db


def test_roll_import_command(tmp_path):
    election = ElectionFactory(phase=Phase.DRAFT)
    PotFactory(election=election, slug="wola", name="Wola")
    off = official()
    path = tmp_path / "r.csv"
    path.write_text("reference,date_of_birth,district\nA-1,1990-01-01,wola\nA-2,1991-01-01,wola\n")
    out = io.StringIO()
    call_command(
        "roll_import",
        election.slug,
        str(path),
        "--as",
        off.username,
        "--dry-run",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert "2 rows checked" in out.getvalue() and not VoterRollEntry.objects.exists()
    call_command(
        "roll_import", election.slug, str(path), "--as", off.username, stdout=out, stderr=io.StringIO()
    )
    assert VoterRollEntry.objects.count() == 2
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("roll_import", election.slug, str(path), "--as", off.username, stdout=io.StringIO())
    with pytest.raises(CommandError, match="role"):
        call_command("roll_import", election.slug, str(path), "--as", UserFactory().username)
