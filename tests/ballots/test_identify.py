"""Identification over HTTP: voting codes, roll match, booth; the identification contract of
ballots.roll.identity (a signed cookie, revoked by leaving)."""

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from ballots.models import CodeStatus, Participation, VotingCode
from ballots.roll import identity
from pb.core.audit import audit_fold
from pb.core.models import AuditEvent, AuditPending, Phase
from tests.ballots.cast_support import identified
from tests.ballots.roll_support import make_code, make_voter
from tests.factories import ElectionFactory, PotFactory, UserFactory, official

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    election = ElectionFactory(phase=Phase.VOTING_OPEN)
    city = PotFactory(election=election, name="Citywide", slug="city", is_citywide=True)
    mokotow = PotFactory(election=election, name="Mokotów", slug="mokotow")
    wola = PotFactory(election=election, name="Wola", slug="wola")
    voter = make_voter(election, mokotow, ref="AB-123", dob=dt.date(1990, 5, 17))
    code = make_code(voter)
    return election, city, mokotow, wola, voter, code


def _url(election):
    return reverse("ballots:identify", args=[election.slug])


def test_code_identifies_and_the_cookie_holds_the_voter(client, setup):
    election, *_r, voter, code = setup
    r = client.post(_url(election), {"method": "code", "code-code": code.lower().replace("-", " ")})
    assert r.status_code == 302 and r.url == reverse("ballots:pots", args=[election.slug])
    data = identified(client)
    assert data == {"election": election.pk, "voter": voter.pk, "version": 0, "method": "code"}
    cookie = r.cookies[identity.COOKIE]
    assert cookie["httponly"] and cookie["path"] == "/vote/" and cookie["samesite"] == "Lax"
    assert not cookie["max-age"] and not cookie["expires"]  # ends with the browser
    assert not Session.objects.exists()  # no database row says which browser identified which voter
    # Online: written without the chain's lock, waiting to be chained; chained in order by audit_fold.
    assert AuditPending.objects.get(action="voter.identify").object_id == str(voter.pk)
    assert not AuditEvent.objects.filter(action="voter.identify").exists()
    assert audit_fold() == 1 and not AuditPending.objects.exists()
    event = AuditEvent.objects.get(action="voter.identify")
    assert event.data == {"method": "code"} and event.object_id == str(voter.pk)


def test_wrong_code_refused_with_message(client, setup):
    election, *_rest = setup
    r = client.post(_url(election), {"method": "code", "code-code": "ZZZZ-ZZZZ-ZZZZ"})
    assert r.status_code == 400
    assert "This voting code is not valid" in r.content.decode()
    assert not identified(client)


def test_void_code_refused(client, setup):
    election, *_r, voter, code = setup
    VotingCode.objects.filter(voter=voter).update(status=CodeStatus.VOID)
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 400


def test_roll_match(client, setup):
    election, *_r = setup
    r = client.post(
        _url(election), {"method": "roll", "roll-reference": " ab-123", "roll-date_of_birth": "1990-05-17"}
    )
    assert r.status_code == 302
    assert identified(client)["method"] == "roll"
    bad = client.post(
        _url(election), {"method": "roll", "roll-reference": "AB-123", "roll-date_of_birth": "1990-05-18"}
    )
    assert bad.status_code == 400
    assert "No entry on the voter roll matches" in bad.content.decode()


def test_identify_refused_when_voting_not_open(client, setup):
    election, *_r, code = setup
    election.phase = Phase.REVIEW
    election.save()
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 409
    assert not identified(client)


def test_underage_voter_told_why(client, setup):
    election, _city, mokotow, *_r = setup
    kid = make_voter(election, mokotow, ref="KID-1", dob=dt.date(2011, 6, 2))  # 15 on 1 June 2026
    code = make_code(kid)
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 403
    assert "You must be 16 on 1 June 2026" in r.content.decode()


def test_voted_everywhere_code_used(client, setup):
    election, city, mokotow, _wola, voter, code = setup
    for pot in (mokotow, city):
        Participation.objects.create(
            election=election, pot=pot, voter=voter, channel="online", day=timezone.localdate()
        )
    assert identity.code_mark_used(voter) == 1
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 409
    assert "has been used" in r.content.decode()


def test_code_stays_valid_until_voted_everywhere(setup):
    election, _city, mokotow, _wola, voter, _code = setup
    Participation.objects.create(
        election=election, pot=mokotow, voter=voter, channel="online", day=timezone.localdate()
    )
    assert identity.code_mark_used(voter) == 0
    assert [p.slug for p in identity.pots_left(voter)] == ["city"]


def test_forget_and_other_election(client, setup):
    election, *_r, code = setup
    client.post(_url(election), {"method": "code", "code-code": code})
    other = ElectionFactory(phase=Phase.VOTING_OPEN)
    request = RequestFactory().get(
        "/", HTTP_COOKIE=f"{identity.COOKIE}={client.cookies[identity.COOKIE].value}"
    )
    assert identity.current_voter(request, other) is None
    assert identity.current_voter(request, election) is not None
    client.post(reverse("ballots:identify_forget", args=[election.slug]))
    assert not identified(client)


def test_booth_identification_by_official(client, setup):
    election, *_r = setup
    off = official()
    client.force_login(off)
    url = reverse("ballots:booth", args=[election.slug])
    assert client.get(url).status_code == 200
    r = client.post(
        url,
        {"booth-reference": "AB-123", "booth-date_of_birth": "1990-05-17", "booth-booth": "Town hall"},
    )
    assert r.status_code == 302
    assert identified(client) == {
        "election": election.pk,
        "voter": setup[4].pk,
        "version": 0,
        "method": "booth",
        "official": off.pk,
        "booth": "Town hall",
    }
    assert client.session[identity.BOOTH_NAME_KEY] == "Town hall"  # offered again to the next official
    event = AuditEvent.objects.get(action="voter.identify")
    assert event.actor_id == off.pk and event.data == {"method": "booth"}
    assert event.private["fields"] == {"booth": "Town hall"}  # kept for officials, never published


def test_booth_refused_for_resident(client, setup):
    election, *_r = setup
    client.force_login(UserFactory())
    r = client.post(
        reverse("ballots:booth", args=[election.slug]),
        {"booth-reference": "AB-123", "booth-date_of_birth": "1990-05-17", "booth-booth": "x"},
    )
    assert r.status_code == 403
    assert not identified(client)


def test_identified_browser_reaches_the_pots_page(client, setup):
    """The contract with the casting pages: after identification the voter's pots page opens."""
    election, _city, _mokotow, _wola, _voter, code = setup
    pots_url = reverse("ballots:pots", args=[election.slug])
    assert client.get(pots_url).url == _url(election)  # not identified: sent to identify
    r = client.post(_url(election), {"method": "code", "code-code": code}, follow=True)
    assert r.status_code == 200 and r.redirect_chain[-1][0] == pots_url
    assert "Mokotów" in r.content.decode()


def test_identify_page_accessible_help_and_errors(client, setup):
    election, *_r = setup
    html = client.get(_url(election)).content.decode()
    assert 'aria-describedby="id_code-code_helptext"' in html and 'id="id_code-code_helptext"' in html
    assert 'for="id_roll-date_of_birth"' in html
    r = client.post(_url(election), {"method": "code", "code-code": "ZZZZ-ZZZZ-ZZZZ"})
    assert 'role="alert"' in r.content.decode()


def test_resident_cannot_claim_the_booth_method(client, setup):
    election, *_r = setup
    r = client.post(
        _url(election),
        {"method": "booth", "code-code": "", "roll-reference": "AB-123", "roll-date_of_birth": "1990-05-17"},
    )
    assert r.status_code == 400  # read as a code attempt (empty code), never as a booth identification
    assert not identified(client)


# --- Messages that cannot mislead: replaced codes, voters marked for paper --------------------------------


def _reissue(election, ref="AB-123"):
    from ballots.roll.codes import code_reissue

    return code_reissue(actor=official(), election=election, reference=ref).code


def test_replaced_code_says_so_and_the_new_one_works(client, setup):
    election, *_r, _voter, code = setup
    new = _reissue(election)
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 400
    html = r.content.decode()
    assert "This code was replaced by a newer one: use the newest letter you received." in html
    assert "not valid" not in html
    assert not identified(client)
    assert client.post(_url(election), {"method": "code", "code-code": new}).status_code == 302


def test_replaced_twice_the_middle_code_also_says_replaced(client, setup):
    election, *_r, code = setup
    middle = _reissue(election)
    _reissue(election)
    for old in (code, middle):
        r = client.post(_url(election), {"method": "code", "code-code": old})
        assert "was replaced by a newer one" in r.content.decode()


def test_voided_without_replacement_says_cancelled(client, setup):
    from ballots.roll.codes import code_void

    election, *_r, code = setup
    code_void(actor=official(), election=election, code=code)
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 400
    assert "cancelled by the election office" in r.content.decode()
    assert "replaced" not in r.content.decode()


def test_guesses_still_get_the_generic_message(client, setup):
    """Only a real (void) code's holder learns it was replaced: a random or malformed guess, or a code of
    another election, gets the same message as before."""
    election, *_r, _voter, _code = setup
    _reissue(election)
    other = ElectionFactory(phase=Phase.VOTING_OPEN)
    other_pot = PotFactory(election=other, slug="x")
    from tests.ballots.roll_support import make_code as _mk

    foreign = _mk(make_voter(other, other_pot, ref="ZZ-1"))
    for guess in ("ZZZZ-ZZZZ-ZZZZ", "0000-0000-0000", "not a code", foreign):
        r = client.post(_url(election), {"method": "code", "code-code": guess})
        assert r.status_code == 400
        html = r.content.decode()
        assert "This voting code is not valid. Check it and try again." in html, guess
        assert "replaced" not in html and "cancelled" not in html


def test_replaced_code_counts_as_a_failed_attempt(setup):
    """Typing an old letter's code is not a free probe: it is throttled like any wrong code."""
    from ballots.exceptions import CodeInvalid
    from ballots.roll.identification import voter_identify_code
    from ballots.roll.models import ThrottleBucket

    election, *_r, code = setup
    _reissue(election)
    before = ThrottleBucket.objects.count()
    with pytest.raises(CodeInvalid, match="replaced"):
        voter_identify_code(election=election, code=code, ip="203.0.113.9")
    assert ThrottleBucket.objects.count() > before


def _mark_paper(election, voter, pots):
    from ballots.casting.services import paper_voter_mark

    return paper_voter_mark(actor=official(), election=election, voter=voter, booth="Town hall", pots=pots)


def test_paper_voter_with_pots_left_is_told_what_remains(client, setup):
    election, city, mokotow, _wola, voter, code = setup
    _mark_paper(election, voter, [city])
    r = client.post(_url(election), {"method": "code", "code-code": code})
    assert r.status_code == 302  # still a district vote to cast
    page = client.get(reverse("ballots:ballot", args=[election.slug, city.slug]))
    html = page.content.decode()
    assert page.status_code == 409
    assert "You were marked at a booth as voting on paper in Citywide" in html
    assert "You may still vote in: Mokotów." in html
    assert "You have already voted" not in html
    pots = client.get(reverse("ballots:pots", args=[election.slug])).content.decode()
    assert "Done: paper ballot taken" in pots and f'id="vote-{mokotow.slug}"' in pots


def test_paper_voter_everywhere_is_told_paper_not_already_voted(client, setup):
    election, _city, _mokotow, _wola, voter, code = setup
    _mark_paper(election, voter, None)  # every pot left
    assert VotingCode.objects.get(voter=voter).status == CodeStatus.USED
    by_code = client.post(_url(election), {"method": "code", "code-code": code})
    assert by_code.status_code == 409
    html = by_code.content.decode()
    assert "This code has been used." in html
    assert "You were marked at a booth as voting on paper in Citywide, Mokotów" in html
    assert "nothing left to vote in online" in html
    by_roll = client.post(
        _url(election), {"method": "roll", "roll-reference": "AB-123", "roll-date_of_birth": "1990-05-17"}
    )
    assert by_roll.status_code == 409
    assert "You were marked at a booth as voting on paper in Citywide, Mokotów" in by_roll.content.decode()
    assert "You have already voted" not in by_roll.content.decode()


def test_paper_in_one_pot_online_in_the_other(client, setup):
    election, city, mokotow, _wola, voter, _code = setup
    _mark_paper(election, voter, [city])
    Participation.objects.create(
        election=election, pot=mokotow, voter=voter, channel="online", day=timezone.localdate()
    )
    r = client.post(
        _url(election), {"method": "roll", "roll-reference": "AB-123", "roll-date_of_birth": "1990-05-17"}
    )
    assert r.status_code == 409
    assert "on paper in Citywide, online in the others" in r.content.decode()


def test_online_voter_still_hears_already_voted(client, setup):
    election, city, _mokotow, _wola, voter, code = setup
    Participation.objects.create(
        election=election, pot=city, voter=voter, channel="online", day=timezone.localdate()
    )
    client.post(_url(election), {"method": "code", "code-code": code})
    html = client.get(reverse("ballots:ballot", args=[election.slug, city.slug])).content.decode()
    assert "You have already voted in Citywide. You may still vote in: Mokotów." in html


@pytest.mark.parametrize("typed", ["17/05/1990", "05/17/1990", "17.05.1990", "17 May 1990", "19900517x"])
def test_roll_match_takes_iso_dates_only(client, setup, typed):
    """A date that could be read two ways is refused by the form (not guessed, not a throttle strike)."""
    from ballots.roll.models import ThrottleBucket

    election, *_r = setup
    r = client.post(
        _url(election), {"method": "roll", "roll-reference": "AB-123", "roll-date_of_birth": typed}
    )
    assert r.status_code == 400
    assert "Write the date of birth as YYYY-MM-DD" in r.content.decode()
    assert not identified(client)
    assert not ThrottleBucket.objects.exists()
    ok = client.post(
        _url(election), {"method": "roll", "roll-reference": "AB-123", "roll-date_of_birth": "1990-05-17"}
    )
    assert ok.status_code == 302
