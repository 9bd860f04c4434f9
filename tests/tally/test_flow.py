"""The whole verifiable-results flow at the service level: freeze, seal, close, tally, sign off, certify,
publish, then the independent verifier (a subprocess, no Django) on the published files."""

import json
import subprocess
import sys

from ballots.ballotbox.sealing import SEAL_BATCH_MIN, ballots_seal_pending
from ballots.models import LogBatch
from pb.core.models import Phase
from pb.core.services import election_advance
from tally.engine import manifest as mf
from tally.filestore import election_dir

from .conftest import KEYS, ROOT


def verify_cli(pdf, ballots=None, key=KEYS / "test-council-ed25519.pub"):
    cmd = [sys.executable, "-m", "tally", "verify", str(pdf), "--key", str(key)]
    if ballots:
        cmd += ["--ballots", str(ballots)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_whole_election_verifies_offline(world):
    cert = world.through_certify()
    assert world.election.phase == Phase.CERTIFIED
    world.publish()
    assert world.election.phase == Phase.PUBLISHED
    folder = election_dir(world.election)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT: PASS" in proc.stdout
    for step in (
        "council signature",
        "PDF signature (PAdES)",
        "ballot log chain",
        "audit log chain",
        "pot north: re-run greedy",
        "pot south: re-run greedy",
        "ballot files match sealed log",
    ):
        assert f"PASS {step}" in proc.stdout, proc.stdout
    manifest = json.loads(cert.manifest)
    assert manifest["ballot_log"]["ballots"] == 45 + 6
    assert sum(p["ballots"] for p in manifest["pots"].values()) == 51


def test_whole_election_cast_through_the_casting_services(db, keys):
    """Online ballots through ballots.casting.services.ballot_cast, paper ballots through the double-entered
    paper
    batch (after the close), then the whole chain to a published result that verifies offline."""
    from ballots.casting import services as casting
    from ballots.casting.validation import RawBallot

    from .conftest import World

    world = World(n_online=0, n_paper=0)
    receipts = []
    for k in range(30):
        pot = world.north if k % 3 else world.south
        voter = _voter(world, pot, k)
        codes = world.codes[pot.slug]
        chosen = [codes[k % len(codes)], codes[(k * 7 + 1) % len(codes)]]
        chosen = chosen[:1] if chosen[0] == chosen[1] else chosen
        cost = {p.code: p.final_cost for p in pot.proposals.all()}
        while sum(cost[c] for c in chosen) > pot.budget:
            chosen.pop()
        result = casting.ballot_cast(
            actor=None,
            election=world.election,
            pot=pot,
            voter=voter,
            raw=RawBallot.of((c, "") for c in chosen),
        )
        receipts.append(result.receipt_code)
        ballots_seal_pending(election_id=world.election.pk)  # what its on_commit hook does
    # 20 in North and 10 in South: no pot reached K + max(K, SEAL_AFTER_CAST) pending, nothing sealed yet.
    assert not LogBatch.objects.filter(election=world.election).exists()
    for k in range(4):
        casting.paper_voter_mark(
            actor=world.o1,
            election=world.election,
            voter=_voter(world, world.south, 100 + k),
            booth="B1",
            pots=[world.south],
        )
    world.close()  # paper batches are typed in after the close
    # North is sealed at the close; South waits for its 4 paper ballots (fewer than 2K pending: all wait), so
    # they do not make a batch of 4 of their own.
    sealed = {b.seq: len(b.ballot_hashes) for b in LogBatch.objects.filter(election=world.election)}
    assert sealed == {1: 20}
    batch = casting.paper_batch_create(
        actor=world.o1, election=world.election, pot=world.south, booth="B1", label="env-1"
    )
    text = "S1\nS2 S4\nS3\nS4\n"
    casting.paper_batch_enter(actor=world.o1, batch=batch, text=text)
    casting.paper_batch_enter(actor=world.o2, batch=batch, text=text)
    casting.paper_batch_accept(actor=world.o3, batch=batch)
    world.tally()
    world.signoffs()
    cert = world.certify()
    world.publish()
    manifest = json.loads(cert.manifest)
    assert manifest["ballot_log"]["ballots"] == 34
    assert sorted(len(b.ballot_hashes) for b in LogBatch.objects.filter(election=world.election)) == [14, 20]
    # South had 14 ballots in all, fewer than K: one batch, and flagged.
    assert manifest["secrecy"] == {"anonymity_k": SEAL_BATCH_MIN, "pots_under_k": ["south"]}
    folder = election_dir(world.election)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from ballots.ballotbox.receipts import receipt_hash

    listed = set((folder / mf.RECEIPTS_FILE).read_text().split())
    assert all(receipt_hash(code) in listed for code in receipts)


def _voter(world, pot, k):
    from ballots.models import VoterRollEntry

    return VoterRollEntry.objects.create(
        election=world.election, ref_hash=f"cast-{k}", ref_dob_hash="x", district=pot, birth_year=1980
    )


def test_ranked_and_points_pots_verify(db, keys):
    """Ordinal (ranked) and cumulative (points) ballots go through export, count and verification too."""
    import datetime as dt

    from ballots.ballotbox import pending
    from ballots.models import Channel, Participation, PendingBallot, VoterRollEntry
    from pb.core.models import BallotType
    from tests.factories import PotFactory, ProposalFactory

    from .conftest import World

    world = World(n_online=0, n_paper=0)
    # Two more pots, added before opening would be the normal way; here a fresh election keeps it simple.
    from tests.factories import ElectionFactory

    election = ElectionFactory(rule="greedy")
    ranked = PotFactory(
        election=election, slug="ranked", budget=50_000, ballot_type=BallotType.RANKED, max_selections=3
    )
    points = PotFactory(
        election=election,
        slug="points",
        budget=50_000,
        ballot_type=BallotType.POINTS,
        points_total=10,
        points_max_per_project=5,
    )
    for pot, prefix in ((ranked, "R"), (points, "T")):
        for i, cost in enumerate([20_000, 15_000, 25_000, 10_000], start=1):
            ProposalFactory(pot=pot, election=election, code=f"{prefix}{i}", cost=cost)
    for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
        election = election_advance(actor=world.o1, election=election, to_phase=phase)
    import random

    rnd = random.Random(3)

    def cast(pot, projects, points, receipt):
        voter = VoterRollEntry.objects.create(
            election=election, ref_hash=f"v-{receipt[0]}{receipt[-12:]}", ref_dob_hash="x", district=pot
        )
        Participation.objects.create(
            election=election, pot=pot, voter=voter, channel=Channel.ONLINE, day=dt.date(2026, 6, 10)
        )
        row = pending.row(
            election_id=election.pk,
            pot_id=pot.pk,
            projects=projects,
            points=points,
            is_paper=False,
            receipt_hash=receipt,
        )
        PendingBallot.objects.create(id=row["id"], election=election, pot=pot, content=row["content"])

    for n in range(30):
        cast(ranked, rnd.sample(["R1", "R2", "R3", "R4"], 3), {}, f"r{n:063d}")
        give = rnd.sample(["T1", "T2", "T3", "T4"], 2)
        cast(points, give, {give[0]: 5, give[1]: rnd.randint(1, 5)}, f"t{n:063d}")
        ballots_seal_pending(election_id=election.pk)
    world.election = election
    world.codes = {"ranked": ["R1", "R2", "R3", "R4"], "points": ["T1", "T2", "T3", "T4"]}
    world.n_paper = 0
    cert = world.through_certify()
    folder = election_dir(election)
    assert "vote_type;ordinal" in (folder / "ballots-ranked.pb").read_text()
    assert "vote_type;cumulative" in (folder / "ballots-points.pb").read_text()
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
