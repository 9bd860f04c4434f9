"""The demo roll: deterministic test codes and roll-match identities that work, loaded idempotently."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from ballots import demo
from ballots.models import VoterRollEntry, VotingCode
from pb.core.models import Election, Phase
from tests.ballots.cast_support import identified

pytestmark = pytest.mark.django_db


def test_demo_load_is_idempotent_and_codes_work(client, settings, tmp_path):
    # demo_load also publishes a past election: keep its files and key out of the checkout.
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(tmp_path / "council.key")
    settings.PB_SIGNING_CERT_FILE = str(tmp_path / "pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(tmp_path / "pades-key.pem")
    out = io.StringIO()
    call_command("demo_load", stdout=out)
    call_command("demo_load", stdout=io.StringIO())
    election = Election.objects.get(slug=demo.DEMO_SLUG)
    assert VoterRollEntry.objects.filter(election=election).count() == demo.VOTERS
    assert VotingCode.objects.filter(election=election).count() == demo.CODES
    text = out.getvalue()
    codes = [demo.demo_code(i) for i in range(1, demo.CODES + 1)]
    assert all(c in text for c in codes)
    assert codes[0] == "R5GH-G887-H8S8"  # the README lists these: they must not change
    Election.objects.filter(pk=election.pk).update(phase=Phase.VOTING_OPEN)
    url = reverse("ballots:identify", args=[election.slug])
    assert client.post(url, {"method": "code", "code-code": codes[3]}).status_code == 302
    ref, dob = demo.ROLL_MATCH[0]
    r = client.post(url, {"method": "roll", "roll-reference": ref, "roll-date_of_birth": dob.isoformat()})
    assert r.status_code == 302 and identified(client)["method"] == "roll"
    ref, dob = demo.UNDERAGE
    r = client.post(url, {"method": "roll", "roll-reference": ref, "roll-date_of_birth": dob.isoformat()})
    assert r.status_code == 403 and "You must be 16 on 1 June 2026" in r.content.decode()
