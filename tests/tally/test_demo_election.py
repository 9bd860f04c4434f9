"""Issue 5, "Done when": a whole election on the demo data (manage.py demo_load): open, cast online (every
eligible demo voter, through ballot_cast) and on paper, close, count, two sign-offs, certify, publish; then
`python -m tally verify` on the published PDF and ballot files passes."""

import json
import random

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase

from ballots.ballotbox.sealing import ballots_seal_pending
from ballots.casting import services as casting
from ballots.casting.validation import RawBallot
from ballots.models import VoterRollEntry
from ballots.roll.identity import eligible_pots
from pb.core.models import Election, Phase
from tally.certification.services import election_certify
from tally.closing import close_confirm, close_request
from tally.counting import tally_run_execute, tally_start
from tally.filestore import election_dir
from tally.publication import election_publish
from tally.signoff import signoff_recount
from tests.factories import official

from .test_flow import verify_cli


def _choice(rnd, pot):
    proposals = list(pot.proposals.filter(status="feasible").order_by("code"))
    rnd.shuffle(proposals)
    chosen, spent = [], 0
    for p in proposals[: min(rnd.randint(1, 4), pot.max_selections or 4)]:
        if spent + p.final_cost <= pot.budget or pot.ballot_type != "knapsack":
            chosen.append(p.code)
            spent += p.final_cost
    return chosen


def _raw(chosen, pot):
    """The marks of a ballot of the pot's type: ranks in order (ranked), 2 points each (points), ticks."""
    values = {"ranked": lambda i: str(i + 1), "points": lambda i: "2"}.get(pot.ballot_type, lambda i: "")
    return RawBallot.of((c, values(i)) for i, c in enumerate(chosen))


def test_demo_election_end_to_end(db, keys, capsys):
    call_command("demo_load")
    election = Election.objects.get(slug="riverton-2026")
    users = get_user_model().objects
    o1, council = users.get(username="official"), users.get(username="council")
    o2, o3 = official(), official()
    assert election.phase == Phase.VOTING_OPEN  # demo_load reviews the proposals and opens the vote
    rnd = random.Random(2026)
    voters = list(VoterRollEntry.objects.filter(election=election, age_eligible=True).order_by("pk"))
    online, paper_voters = voters[:-6], voters[-6:]
    cast = 0
    for voter in online:
        for pot in eligible_pots(voter):
            chosen = _choice(rnd, pot)
            raw = _raw(chosen, pot)
            casting.ballot_cast(actor=None, election=election, pot=pot, voter=voter, raw=raw)
            ballots_seal_pending(election_id=election.pk)  # ballot_cast's on_commit hook
            cast += 1
    booth_pot = eligible_pots(paper_voters[0])[0]  # the citywide pot
    for voter in paper_voters:
        casting.paper_voter_mark(
            actor=o1, election=election, voter=voter, booth="Town hall", pots=[booth_pot]
        )
    close_request(actor=o1, election=election)
    election = close_confirm(actor=o2, election=election)
    batch = casting.paper_batch_create(
        actor=o1, election=election, pot=booth_pot, booth="Town hall", label="1"
    )
    text = "\n".join(" ".join(_choice(rnd, booth_pot)) for _ in paper_voters)
    casting.paper_batch_enter(actor=o1, batch=batch, text=text)
    casting.paper_batch_enter(actor=o2, batch=batch, text=text)
    casting.paper_batch_accept(actor=o3, batch=batch)

    run = tally_start(actor=o1, election=election)
    run = tally_run_execute(run_id=run.pk)
    assert run.status == "done", run.error
    election.refresh_from_db()
    signoff_recount(actor=o2, election=election)
    signoff_recount(actor=o3, election=election)
    with TestCase.captureOnCommitCallbacks(execute=True):  # the files are published on commit
        cert = election_certify(actor=council, election=election)
    election.refresh_from_db()
    election = election_publish(actor=council, election=election)
    assert election.phase == Phase.PUBLISHED

    manifest = json.loads(cert.manifest)
    assert manifest["ballot_log"]["ballots"] == cast + len(paper_voters)
    assert len(manifest["pots"]) == election.pots.count()
    folder = election_dir(election)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASS pot ") >= 5 * 4
    assert "PASS PDF signature (PAdES)" in proc.stdout  # the PDF itself is signed
