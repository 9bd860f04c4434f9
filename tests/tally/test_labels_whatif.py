"""Results say what a pot's ballots give a project (votes, points or a rank score), on the page and in the
signed PDF; a "what if" rule that cannot count one pot's ballots skips that pot, says why, and counts the
others; the "what if" menu offers per pot only the rules that can count it."""

import datetime as dt
import random
import re
import subprocess

import pytest
from django.urls import reverse

from ballots.ballotbox import pending
from ballots.ballotbox.sealing import ballots_seal_pending
from ballots.models import Channel, Participation, PendingBallot, VoterRollEntry
from pb.core.models import BallotType, Phase
from pb.core.services import election_advance
from tally.counting import tally_run_execute, tally_start
from tally.filestore import election_dir
from tests.factories import ElectionFactory, PotFactory, ProposalFactory

from .conftest import World

SKIP_RULE = "equalshares/add1"  # counts approval and points ballots, not ranked ones


def _election(world: World, *, rule: str = "greedy"):
    """Three pots, one per kind of score: approval (votes), points (points), ranked (rank score)."""
    election = ElectionFactory(rule=rule)
    pots = {
        "hillside": PotFactory(
            election=election,
            slug="hillside",
            name="Hillside",
            budget=50_000,
            ballot_type=BallotType.APPROVAL,
            max_selections=3,
        ),
        "harbour": PotFactory(
            election=election,
            slug="harbour",
            name="Harbour",
            budget=50_000,
            ballot_type=BallotType.POINTS,
            points_total=10,
            points_max_per_project=5,
        ),
        "old-town": PotFactory(
            election=election,
            slug="old-town",
            name="Old Town",
            budget=50_000,
            ballot_type=BallotType.RANKED,
            max_selections=3,
        ),
    }
    codes = {}
    for slug, pot in pots.items():
        prefix = {"hillside": "A", "harbour": "P", "old-town": "R"}[slug]
        codes[slug] = [f"{prefix}{i}" for i in range(1, 5)]
        for code, cost in zip(codes[slug], [20_000, 15_000, 25_000, 10_000], strict=True):
            ProposalFactory(pot=pot, election=election, code=code, cost=cost)
    for phase in (Phase.PROPOSALS_OPEN, Phase.REVIEW, Phase.VOTING_OPEN):
        election = election_advance(actor=world.o1, election=election, to_phase=phase)
    rnd = random.Random(5)

    def cast(pot, projects, points, receipt):
        voter = VoterRollEntry.objects.create(
            election=election, ref_hash=receipt, ref_dob_hash="x", district=pot
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

    for n in range(25):
        cast(pots["hillside"], sorted(rnd.sample(codes["hillside"], 2)), {}, f"a{n:063d}")
        give = rnd.sample(codes["harbour"], 2)
        cast(pots["harbour"], give, {give[0]: 5, give[1]: rnd.randint(1, 5)}, f"p{n:063d}")
        cast(pots["old-town"], rnd.sample(codes["old-town"], 3), {}, f"r{n:063d}")
        ballots_seal_pending(election_id=election.pk)
    world.election = election
    world.codes = codes
    world.n_paper = 0
    return election


@pytest.fixture
def counted(db, keys):
    """Closed and counted officially, with one "what if" run of a rule that cannot count the ranked pot."""
    world = World(n_online=0, n_paper=0)
    _election(world)
    world.close()
    official = world.tally()
    assert official.status == "done", official.error
    run = tally_start(actor=world.o1, election=world.election, rule=SKIP_RULE)
    whatif = tally_run_execute(run_id=run.pk)
    return world, official, whatif


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_whatif_skips_the_pot_its_rule_cannot_count_and_counts_the_others(counted, client):
    world, _official, whatif = counted
    assert whatif.status == "done", whatif.error
    reason = f"{SKIP_RULE} cannot count ranked ballots: Old Town not counted"
    assert whatif.results["old-town"] == {"skipped": reason}
    assert whatif.summary["old-town"] == {"skipped": reason}
    for slug in ("hillside", "harbour"):
        assert whatif.summary[slug]["ballots"] == 25
        assert whatif.summary[slug]["selected"]
    # The officials' page says why that pot was not counted, next to the other pots' results.
    client.force_login(world.o1)
    page = client.get(reverse("tally:manage", args=[world.election.slug]))
    assert page.status_code == 200
    table = page.content.decode().split('class="whatif"', 1)[1].split("</table>", 1)[0]
    assert reason in table
    assert "Harbour" in table and "Hillside" in table


def test_official_count_still_fails_loudly_for_a_rule_that_cannot_count_a_pot(db, keys):
    """Only "what if" runs skip a pot: an official rule that cannot count one fails the whole count."""
    world = World(n_online=0, n_paper=0)
    _election(world, rule=SKIP_RULE)
    world.close()
    run = world.tally()
    assert run.status == "failed"
    assert "does not count 'ordinal' ballots" in run.error
    assert not run.results


def test_menu_offers_per_pot_only_the_rules_that_can_count_it(counted, client):
    world, _official, _whatif = counted
    client.force_login(world.o1)
    html = client.get(reverse("tally:manage", args=[world.election.slug])).content.decode()
    per_pot = html.split('id="whatif-rules-per-pot"', 1)[1].split("</ul>", 1)[0]
    lines = {
        li.split(":", 1)[0].strip(): li.split(":", 1)[1] for li in re.findall(r"<li>(.*?)</li>", per_pot)
    }
    old_town = [r.strip() for r in lines["Old Town"].split(",")]
    harbour = [r.strip() for r in lines["Harbour"].split(",")]
    hillside = [r.strip() for r in lines["Hillside"].split(",")]
    assert "greedy" in old_town and SKIP_RULE not in old_town and "phragmen" not in old_town
    assert SKIP_RULE in harbour and "phragmen" not in harbour
    assert "phragmen" in hillside and SKIP_RULE in hillside
    # Each option of the rule menu names the pots it cannot count.
    select = html.split('name="rule"', 1)[1].split("</select>", 1)[0]
    option = re.search(r'<option value="equalshares/add1">(.*?)</option>', select).group(1)
    assert "cannot count: Old Town" in option
    greedy = re.search(r'<option value="greedy">(.*?)</option>', select).group(1)
    assert "cannot count" not in greedy
    # A rule the menu offers is accepted for the election; the what-if then skips only Old Town.
    resp = client.post(reverse("tally:action", args=[world.election.slug, "whatif"]), {"rule": "phragmen"})
    assert resp.status_code in (200, 302)


def test_labels_on_results_page_and_pdf(counted, client):
    world, _official, _whatif = counted
    world.signoffs()
    cert = world.certify()
    world.publish()
    html = client.get(reverse("tally:results", args=[world.election.slug])).content.decode()
    sections = {
        slug: _text(html.split(f'id="h-{slug}"', 1)[1].split("</section>", 1)[0])
        for slug in ("hillside", "harbour", "old-town")
    }
    assert "Points per project" in sections["harbour"]
    assert re.search(r"\d+ points?\b", sections["harbour"])
    assert " votes" not in sections["harbour"].lower().replace("no votes", "")
    assert "Rank score" in sections["old-town"] and "rank score " in sections["old-town"]
    assert " votes" not in sections["old-town"].lower().replace("no votes", "")
    assert "Votes per project" in sections["hillside"]
    assert re.search(r"\d+ votes?\b", sections["hillside"])
    # The comparison with the "what if" rule says why Old Town has no result under it.
    assert f"{SKIP_RULE} cannot count ranked ballots: Old Town not counted" in html

    pdf = election_dir(world.election) / cert.pdf_name
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    parts = re.split(r"\n(?=(?:Hillside|Harbour|Old Town)\n)", text)
    by_pot = {
        p.split("\n", 1)[0]: p for p in parts if p.split("\n", 1)[0] in ("Hillside", "Harbour", "Old Town")
    }
    assert set(by_pot) == {"Hillside", "Harbour", "Old Town"}, text[:2000]
    assert "Points per project" in by_pot["Harbour"] and "Points" in by_pot["Harbour"]
    assert "Rank score per project" in by_pot["Old Town"]
    assert "Votes per project" in by_pot["Hillside"]
    assert re.search(r"\d+ votes?\b", by_pot["Hillside"])
