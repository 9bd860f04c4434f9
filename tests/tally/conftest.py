"""A small whole election for the results tests: two pots, feasible projects, ballots cast online and on
paper, sealed as the casting code seals them."""

import datetime as dt
import hashlib
import random
import secrets

import pytest
from django.test import TestCase

from ballots.ballotbox import pending
from ballots.ballotbox.sealing import ballots_seal_pending
from ballots.models import Channel, Participation, PendingBallot, VoterRollEntry
from ballots.roll import entries as roll
from pb.core.models import Phase
from pb.core.services import election_advance
from tally.certification.services import election_certify
from tally.closing import close_confirm, close_request
from tally.counting import tally_run_execute, tally_start
from tally.publication import election_publish
from tally.signoff import signoff_recount
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, council, official

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
KEYS = ROOT / "fixtures" / "keys"


@pytest.fixture
def keys(settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(KEYS / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(KEYS / "test-pades-key.pem")
    settings.PB_SIGNOFF_QUORUM = 2
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
    return KEYS


def _receipt() -> str:
    return hashlib.sha256(f"pb-receipt:{secrets.token_hex(10)}".encode()).hexdigest()


class World:
    def __init__(self, n_online=45, n_paper=6, seed=7):
        self.o1, self.o2, self.o3 = official(), official(), official()
        self.council = council()
        self.election = ElectionFactory(rule="greedy")
        self.north = PotFactory(election=self.election, slug="north", name="North", budget=100_000)
        self.south = PotFactory(election=self.election, slug="south", name="South", budget=60_000)
        costs = {"north": [40_000, 30_000, 30_000, 20_000, 50_000], "south": [30_000, 25_000, 20_000, 10_000]}
        self.codes = {}
        for pot in (self.north, self.south):
            self.codes[pot.slug] = [
                ProposalFactory(
                    pot=pot, election=self.election, code=f"{pot.slug[0].upper()}{i + 1}", cost=c
                ).code
                for i, c in enumerate(costs[pot.slug])
            ]
        # The roll exists before voting opens (its snapshot is certified): enough voters for every cast.
        self.roll = {
            pot.slug: [
                VoterRollEntry.objects.create(
                    election=self.election,
                    # reference "<pot>-<i>", born 1980-01-01: a booth can identify them (ballots.roll.entries)
                    ref_hash=roll.ref_hash(f"{pot.slug}-{i}"),
                    ref_dob_hash=roll.ref_dob_hash(f"{pot.slug}-{i}", "1980-01-01"),
                    district=pot,
                )
                for i in range(n_online + n_paper + 20)
            ]
            for pot in (self.north, self.south)
        }
        for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
            self.election = election_advance(actor=self.o1, election=self.election, to_phase=phase)
        self.rng = random.Random(seed)
        self.n = 0
        for _ in range(n_online):
            self.cast(self.rng.choice([self.north, self.south]))
        self.n_paper = n_paper

    def cast(self, pot, *, paper=False, projects=None, receipt_hash=None):
        self.n += 1
        voter = self.roll[pot.slug].pop()
        Participation.objects.create(
            election=self.election,
            pot=pot,
            voter=voter,
            channel=Channel.PAPER if paper else Channel.ONLINE,
            day=dt.date(2026, 6, 10),
        )
        if projects is None:
            codes = self.codes[pot.slug]
            projects = sorted(self.rng.sample(codes, self.rng.randint(1, 3)))
            # keep knapsack ballots within budget
            cost = {p.code: p.final_cost for p in pot.proposals.all()}
            while sum(cost[p] for p in projects) > pot.budget:
                projects.pop()
        # As ballot_cast and paper_batch_accept store it: pending (encrypted) until sealed.
        row = pending.row(
            election_id=self.election.pk,
            pot_id=pot.pk,
            projects=projects,
            points={},
            is_paper=paper,
            receipt_hash=receipt_hash or _receipt(),
        )
        PendingBallot.objects.create(id=row["id"], election=self.election, pot=pot, content=row["content"])
        # what ballots.casting.services does after each commit
        ballots_seal_pending(election_id=self.election.pk)

    def close(self):
        close_request(actor=self.o1, election=self.election)
        self.election = close_confirm(actor=self.o2, election=self.election)
        for _ in range(self.n_paper):  # paper ballots are entered after the close
            self.cast(self.rng.choice([self.north, self.south]), paper=True)

    def tally(self):
        run = tally_start(actor=self.o1, election=self.election)
        run = tally_run_execute(run_id=run.pk) if run.status == "pending" else run
        self.election.refresh_from_db()
        return run

    def signoffs(self):
        signoff_recount(actor=self.o2, election=self.election)
        signoff_recount(actor=self.o3, election=self.election)

    def certify(self):
        # The certified files are moved into place when the transaction commits; a test's transaction never
        # does, so run the commit hooks here as a real commit would.
        with TestCase.captureOnCommitCallbacks(execute=True):
            cert = election_certify(actor=self.council, election=self.election)
        self.election.refresh_from_db()
        return cert

    def publish(self):
        # The publication record and the extended audit.jsonl are moved into place on commit, as for certify.
        with TestCase.captureOnCommitCallbacks(execute=True):
            self.election = election_publish(actor=self.council, election=self.election)
        return self.election

    def through_certify(self):
        self.close()
        self.tally()
        self.signoffs()
        return self.certify()


@pytest.fixture
def world(db, keys):
    return World()
