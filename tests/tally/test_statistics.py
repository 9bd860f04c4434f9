"""The statistics page through the real flow (tally.statistics): close, count, certify, publish with the real
services; the page's numbers against the database; nothing before its time; no small cell; garbage in the
query string is a 400 or a 404."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from ballots.models import Participation, VoterRollEntry
from pb.core.models import Phase
from proposals.comments.models import Comment
from proposals.models import Proposal
from proposals.supports.models import Support
from tally.models import Certification
from tally.statistics.models import StatisticsSnapshot
from tests.factories import CategoryFactory, ElectionFactory, UserFactory
from tests.tally.conftest import World

DAY1, DAY2 = dt.date(2026, 6, 10), dt.date(2026, 6, 11)


class StatsWorld(World):
    """North: 40 voters, 3 of them under 18 and 4 on the second day (small cells); south: 25 voters."""

    def __init__(self):
        super().__init__(n_online=0, n_paper=25)  # a roll of 45 per pot
        self.n_paper = 0  # no paper ballots after the close
        VoterRollEntry.objects.filter(election=self.election).update(birth_year=1980)
        young = [e.pk for e in self.roll["north"][-3:]]  # the next three cast in north (roll pops)
        VoterRollEntry.objects.filter(pk__in=young).update(birth_year=2010)
        for _ in range(40):
            self.cast(self.north)
        for _ in range(25):
            self.cast(self.south)
        late = Participation.objects.filter(pot=self.north).order_by("pk").values_list("pk", flat=True)[:4]
        Participation.objects.filter(pk__in=list(late)).update(day=DAY2)
        self.category = CategoryFactory(election=self.election, name="Parks", slug="parks")
        Proposal.objects.filter(election=self.election, pot=self.north).update(category=self.category)
        first = Proposal.objects.filter(election=self.election).order_by("code").first()
        for i in range(3):
            Support.objects.create(proposal=first, election=self.election, user=UserFactory(username=f"s{i}"))
        Comment.objects.create(proposal=first, author=self.o1, body="Good idea")
        Comment.objects.create(
            proposal=first,
            author=self.o1,
            body="Spam",
            hidden_at=dt.datetime.now(dt.UTC),
            hidden_reason="spam",
            hidden_by=self.o1,
        )


@pytest.fixture
def sworld(db, keys):
    return StatsWorld()


def _url(world, **query):
    url = reverse("tally:statistics", args=[world.election.slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _cells(html, table_id):
    """Rows of a table's cells as text, by the row's data-pot."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = {}
    for pot, cells in re.findall(r'<tr data-pot="([^"]+)">(.*?)</tr>', body, re.S):
        rows[pot] = [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
        ]
    return rows


def test_during_voting_no_turnout(sworld, client):
    response = client.get(_url(sworld))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="turnout-later"' in html
    for marker in ("turnout-districts", "turnout-days", "turnout-ages", "turnout-channels", "figures"):
        assert f'id="{marker}"' not in html
    assert not StatisticsSnapshot.objects.filter(election=sworld.election).exists()
    # The activity is public already: proposals per district are shown.
    assert _cells(html, "activity-pots")["north"][1] == "5"


def test_draft_election_is_not_found(db, client):
    election = ElectionFactory()
    assert election.phase == Phase.DRAFT
    assert client.get(reverse("tally:statistics", args=[election.slug])).status_code == 404
    assert client.get(reverse("tally:statistics", args=["no-such-election"])).status_code == 404


def test_published_page_matches_the_database(sworld, client):
    sworld.through_certify()
    sworld.publish()
    snap = StatisticsSnapshot.objects.get(election=sworld.election)
    assert snap.data["phase"] == Phase.PUBLISHED
    html = client.get(_url(sworld, pot="north")).content.decode()

    # Turnout per district: exact, as in the participations.
    districts = _cells(html, "turnout-districts")
    for pot in (sworld.north, sworld.south):
        n = Participation.objects.filter(pot=pot).count()
        assert districts[pot.slug][1] == str(n)
        assert districts[pot.slug][2] == str(VoterRollEntry.objects.filter(district=pot).count())

    # By day: north's 4 voters of the second day are under K=20, so hidden with the other north cell.
    days = _cells(html, "turnout-days")
    assert days["north"][1].startswith("hidden") and days["north"][2].startswith("hidden")
    assert days["south"][1].startswith("25")  # south voted on one day: nothing small
    # By age band: the 3 under-18s of north are hidden, and so is a second north cell.
    ages = _cells(html, "turnout-ages")
    assert sum(cell.startswith("hidden") for cell in ages["north"]) >= 2
    assert not any(re.match(r"^[1-9]\b|^1[0-9]\b", cell) for row in ages.values() for cell in row)
    for row in (*days.values(), *ages.values()):
        for cell in row:
            m = re.match(r"^(\d+)", cell)
            assert m is None or int(m.group(1)) == 0 or int(m.group(1)) >= 20, row

    # Proportionality figures: the engine's metrics of the certified run, as percentages.
    run = Certification.objects.get(election=sworld.election).run
    figures = _cells(html, "figures")
    for slug, metrics in run.metrics.items():
        assert figures[slug][1] == f"{100 * metrics['voters_with_funded']:.1f} %"
        assert figures[slug][4] == f"{100 * metrics['budget_used']:.1f} %"

    # Activity: proposals, supports and visible comments.
    activity = _cells(html, "activity-pots")
    first = Proposal.objects.filter(election=sworld.election).order_by("code").first()
    assert activity[first.pot.slug][1:] == [
        str(Proposal.objects.filter(pot=first.pot).count()),
        "3",
        "1",  # the hidden comment is not counted
    ]
    assert 'data-category="parks"' in html


def test_svg_charts_have_accessible_text(sworld, client):
    sworld.through_certify()
    sworld.publish()
    html = client.get(_url(sworld)).content.decode()
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", html, re.S)
    assert len(svgs) >= 6
    for svg in svgs:
        head = re.match(r"<svg[^>]*>", svg).group(0)
        assert 'role="img"' in head
        title_id, desc_id = re.search(r'aria-labelledby="([^" ]+) ([^"]+)"', head).groups()
        assert re.search(rf'<title id="{title_id}">[^<]+</title>', svg)
        assert re.search(rf'<desc id="{desc_id}">[^<]+</desc>', svg)
    # The day chart names its district and carries no small number either.
    day_chart = next(s for s in svgs if 'id="chart-days"' in s)
    assert "hidden" in day_chart


def test_turnout_shown_after_close_and_snapshot_taken_at_close(sworld, client):
    sworld.close()
    snap = StatisticsSnapshot.objects.get(election=sworld.election)
    assert snap.data["phase"] == Phase.VOTING_CLOSED
    html = client.get(_url(sworld)).content.decode()
    assert 'id="turnout-districts"' in html
    assert 'id="figures"' not in html  # figures only once the certified result is published


def test_election_closed_before_snapshots_gets_one_on_first_view(sworld, client):
    sworld.close()
    StatisticsSnapshot.objects.all().delete()
    assert client.get(_url(sworld)).status_code == 200
    assert StatisticsSnapshot.objects.filter(election=sworld.election).exists()


def test_statistics_that_fail_never_block_closing(sworld, client, monkeypatch):
    from tally.statistics import services

    def broken(*args, **kwargs):
        raise RuntimeError("statistics broke")

    monkeypatch.setattr(services, "statistics_build", broken)
    sworld.close()
    sworld.election.refresh_from_db()
    assert sworld.election.phase == Phase.VOTING_CLOSED  # the vote closed all the same
    assert not StatisticsSnapshot.objects.exists()
    monkeypatch.undo()
    assert client.get(_url(sworld)).status_code == 200  # made on first view
    assert StatisticsSnapshot.objects.filter(election=sworld.election).exists()


@pytest.mark.parametrize(
    "pot",
    ["nowhere", "x" * 5000, "%00", "%E2%80%AE", "north%27%3B--", "<script>"],
)
def test_garbage_pot_is_a_400(sworld, client, pot):
    sworld.close()
    response = client.get(_url(sworld, pot=pot))
    assert response.status_code == 400
    if pot == "%00":  # pb.core.middleware.RequestGuardMiddleware refuses a NUL before the view
        return
    html = response.content.decode()
    assert 'id="statistics-error"' in html
    assert "<script>" not in html.split('id="statistics-error"')[1][:200]
    assert 'id="turnout-districts"' in html  # the page is still there, with the default district


def test_other_query_parameters_are_ignored_and_repeated_pot_is_handled(sworld, client):
    sworld.close()
    url = reverse("tally:statistics", args=[sworld.election.slug])
    assert client.get(url + "?pot=north&pot=south&page=-1&sort=%FF").status_code == 200
    assert client.get(url + "?pot=").status_code == 200


def test_pot_of_another_election_is_refused(sworld, client):
    other = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
    sworld.close()
    assert client.get(_url(sworld, pot=f"{other.slug}")).status_code == 400


def test_linked_from_results_and_election_pages(sworld, client):
    sworld.through_certify()
    sworld.publish()
    url = reverse("tally:statistics", args=[sworld.election.slug])
    assert url in client.get(reverse("tally:results", args=[sworld.election.slug])).content.decode()
    assert url in client.get(reverse("core:election", args=[sworld.election.slug])).content.decode()


def test_only_get_and_head(sworld, client):
    sworld.close()
    assert client.head(_url(sworld)).status_code == 200
    assert client.post(_url(sworld)).status_code in (403, 405)


def test_cached_body_follows_a_new_snapshot_and_the_district(sworld, client):
    from tally.statistics.services import statistics_store

    sworld.close()
    before = _cells(client.get(_url(sworld)).content.decode(), "turnout-days")
    assert before["south"][1].startswith("25")
    Participation.objects.filter(pot=sworld.south).update(day=DAY2)  # as if the snapshot were recomputed
    statistics_store(sworld.election)
    html = client.get(_url(sworld)).content.decode()
    assert _cells(html, "turnout-days")["south"][1:] == ["0", "25"]
    assert "Voters per day in North" in html
    assert "Voters per day in South" in client.get(_url(sworld, pot="south")).content.decode()
    assert "Voters per day in North" in client.get(_url(sworld, pot="garbage")).content.decode()
