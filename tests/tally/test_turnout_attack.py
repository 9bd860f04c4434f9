"""The observer who subtracts: every place that publishes turnout per pot and channel (the results page, the
open data API and its CSV, the statistics page) read together, as an attacker would, after a real
close, count, certification and publication.

The election: every district voter also votes citywide, at the same booth. North has 3 voters at the
Library booth (a cell under K = 20, hidden); south has 25 there. The citywide row's Library cell is then
north's plus south's, so if the citywide and south cells are shown, north's hidden 3 is their difference."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from ballots.ballotbox import pending
from ballots.ballotbox.sealing import ballots_seal_pending
from ballots.models import Channel, Participation, PendingBallot, VoterRollEntry
from ballots.roll import entries as roll
from pb.core.models import Phase
from pb.core.services import election_advance
from tests.ballots.cells_support import determined
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, council, official
from tests.tally.conftest import World, _receipt

K = 20
LIBRARY, SCHOOL = "Library", "School"


class CityWorld(World):
    """A citywide pot and two districts; `plan[district]` = [(channel, booth, voters)], each voter casting in
    their district and citywide through the same channel and booth."""

    def __init__(self, plan: dict[str, list[tuple[str, str, int]]]):
        self.o1, self.o2, self.o3 = official(), official(), official()
        self.council = council()
        self.election = ElectionFactory(rule="greedy")
        self.city = PotFactory(
            election=self.election, slug="city", name="City", budget=200_000, is_citywide=True
        )
        self.north = PotFactory(election=self.election, slug="north", name="North", budget=100_000)
        self.south = PotFactory(election=self.election, slug="south", name="South", budget=60_000)
        self.codes = {}
        for pot in (self.city, self.north, self.south):
            self.codes[pot.slug] = [
                ProposalFactory(
                    pot=pot, election=self.election, code=f"{pot.slug[0].upper()}{i + 1}", cost=c
                ).code
                for i, c in enumerate((30_000, 20_000, 10_000))
            ]
        voters = {
            pot.slug: [
                VoterRollEntry.objects.create(
                    election=self.election,
                    ref_hash=roll.ref_hash(f"{pot.slug}-{i}"),
                    ref_dob_hash=roll.ref_dob_hash(f"{pot.slug}-{i}", "1980-01-01"),
                    district=pot,
                )
                for i in range(sum(n for _c, _b, n in plan[pot.slug]))
            ]
            for pot in (self.north, self.south)
        }
        for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
            self.election = election_advance(actor=self.o1, election=self.election, to_phase=phase)
        self.rng = random.Random(11)
        self.n_paper = 0
        self.roll = {}
        for district in (self.north, self.south):
            queue = list(voters[district.slug])
            for channel, booth, n in plan[district.slug]:
                for _ in range(n):
                    voter = queue.pop()
                    for pot in (district, self.city):
                        self.vote(voter, pot, channel, booth)
        ballots_seal_pending(election_id=self.election.pk)

    def vote(self, voter, pot, channel, booth):
        Participation.objects.create(
            election=self.election,
            pot=pot,
            voter=voter,
            channel=channel,
            booth=booth,
            day=dt.date(2026, 6, 10),
        )
        row = pending.row(
            election_id=self.election.pk,
            pot_id=pot.pk,
            projects=[self.rng.choice(self.codes[pot.slug])],
            points={},
            is_paper=channel == Channel.PAPER,
            receipt_hash=_receipt(),
        )
        PendingBallot.objects.create(id=row["id"], election=self.election, pot=pot, content=row["content"])


def _published(plan) -> CityWorld:
    world = CityWorld(plan)
    world.through_certify()
    world.publish()
    cache.clear()
    return world


def _truth(world) -> dict[str, dict[tuple[str, str], int]]:
    table: dict[str, dict[tuple[str, str], int]] = {p: {} for p in ("city", "north", "south")}
    for p in Participation.objects.filter(election=world.election).select_related("pot"):
        key = (p.channel, p.booth if p.channel != Channel.ONLINE else "")
        table[p.pot.slug][key] = table[p.pot.slug].get(key, 0) + 1
    return table


def _api_cells(client, world) -> dict[tuple[str, str, str], int]:
    slug = world.election.slug
    data = json.loads(client.get(f"/api/v1/elections/{slug}/turnout").content)
    shown = {(r["pot"], r["channel"], r["booth"] or ""): r["voters"] for r in data["rows"] if not r["merged"]}
    rows = csv.DictReader(io.StringIO(client.get(f"/api/v1/elections/{slug}/turnout.csv").content.decode()))
    from_csv = {(r["pot"], r["channel"], r["booth"]): int(r["voters"]) for r in rows if r["merged"] != "True"}
    assert from_csv == shown  # the CSV is the same table
    return shown


def _page_rows(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


LABELS = {str(label): value for value, label in Channel.choices}
NAMES = {"City": "city", "North": "north", "South": "south"}


def _results_page_cells(client, world) -> dict[tuple[str, str, str], int]:
    html = client.get(reverse("tally:results", args=[world.election.slug])).content.decode()
    return {
        (NAMES[pot], LABELS[channel], booth): int(n.replace(",", ""))
        for pot, channel, booth, n in _page_rows(html, "turnout-table")
        if channel in LABELS
    }


def _statistics_cells(client, world) -> dict[tuple[str, str, str], int]:
    html = client.get(reverse("tally:statistics", args=[world.election.slug])).content.decode()
    return {
        (NAMES[pot], LABELS[channel], booth): int(n.replace(",", ""))
        for pot, channel, booth, n in _page_rows(html, "turnout-channels")
        if channel in LABELS
    }


def _published_cells(client, world) -> dict[tuple[str, str, str], int]:
    """Everything the three places show, merged; a cell shown in two places must say the same."""
    out: dict[tuple[str, str, str], int] = {}
    for source in (_api_cells, _results_page_cells, _statistics_cells):
        for key, n in source(client, world).items():
            assert out.setdefault(key, n) == n, key
    return out


def _subtract(shown, truth):
    """The attack of the docs' Limits: a district's cell = the citywide cell minus the other districts'."""
    found = {}
    for district, other in (("north", "south"), ("south", "north")):
        for channel, booth in truth[district]:
            key = (district, channel, booth)
            city, them = ("city", channel, booth), (other, channel, booth)
            if key not in shown and city in shown and (them in shown or (channel, booth) not in truth[other]):
                found[key] = shown[city] - shown.get(them, 0)
    return found


def _linear_attack(shown, truth) -> set:
    """Every hidden cell that follows from the shown cells, each pot's exact total, the exact online and paper
    count of each pot (the reconciliation table) and the citywide row as the sum of the districts."""
    table = {pot: {col: n for col, n in cells.items()} for pot, cells in truth.items()}
    hidden = {(pot, col) for pot, cells in truth.items() for col in cells if (pot, *col) not in shown}
    group = {Channel.ONLINE: "online", Channel.BOOTH: "online", Channel.PAPER: "paper"}
    return determined(table, hidden, total_rows={"city"}, group=lambda col: group[col[0]])


PLAN_BOOTH = {
    "north": [(Channel.ONLINE, "", 40), (Channel.BOOTH, LIBRARY, 3)],
    "south": [(Channel.ONLINE, "", 40), (Channel.BOOTH, LIBRARY, 25)],
}
# A district with paper voters: the reconciliation table publishes each pot's online (with booth) and paper
# voters exactly, so hiding north's 3 at the Library with its 25 paper voters would give the 3 back. (Paper
# ballots entered outside a batch: booth "", as the reconciliation counts them without a batch.)
PLAN_PAPER = {
    "north": [(Channel.ONLINE, "", 40), (Channel.BOOTH, LIBRARY, 3), (Channel.PAPER, "", 25)],
    "south": [(Channel.ONLINE, "", 45), (Channel.BOOTH, SCHOOL, 30), (Channel.PAPER, "", 22)],
}


@pytest.mark.parametrize("plan", [PLAN_BOOTH, PLAN_PAPER], ids=["booth", "paper"])
def test_no_hidden_turnout_cell_can_be_subtracted_out(db, keys, client, plan):
    world = _published(plan)
    truth = _truth(world)
    assert truth["north"][(Channel.BOOTH, LIBRARY)] == 3
    shown = _published_cells(client, world)
    assert ("north", Channel.BOOTH, LIBRARY) not in shown  # the small cell itself is never shown
    assert all(n >= K for n in shown.values())
    assert _subtract(shown, truth) == {}
    assert _linear_attack(shown, truth) == set()


def test_a_snapshot_hidden_under_the_older_rule_is_rebuilt_before_it_is_shown(db, keys, client):
    """A statistics snapshot stored before this rule hid north's cells alone (pot by pot): shown beside the
    results page's table it could be subtracted from it, so the page rebuilds it first."""
    from ballots.casting.cells import RULE_VERSION
    from tally.statistics.models import StatisticsSnapshot

    world = _published(PLAN_BOOTH)
    snap = StatisticsSnapshot.objects.get(election=world.election)
    old = dict(snap.data)
    old.pop("rule")
    old["turnout"] = old["turnout"] | {
        "channels": [
            {
                "pot": "south",
                "channel": "booth",
                "booth": LIBRARY,
                "n": 25,
                "merged": False,
                "merged_channels": [],
            }
        ]
    }
    StatisticsSnapshot.objects.filter(pk=snap.pk).update(data=old)
    shown = _statistics_cells(client, world)
    snap.refresh_from_db()
    assert snap.data["rule"] == RULE_VERSION
    assert shown == _results_page_cells(client, world) != {("south", Channel.BOOTH, LIBRARY): 25}
