"""Eligibility: minimum age on a date, district residency, custom rules; specific refusal messages."""

import datetime as dt

import pytest

from ballots.exceptions import NotEligible
from ballots.roll import eligibility, identity
from pb.core.models import Phase
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pots():
    e = ElectionFactory(phase=Phase.VOTING_OPEN, min_age=16, age_reference_date=dt.date(2026, 6, 1))
    city = PotFactory(election=e, name="Citywide", slug="city", is_citywide=True)
    mokotow = PotFactory(election=e, name="Mokotów", slug="mokotow")
    wola = PotFactory(election=e, name="Wola", slug="wola")
    return e, city, mokotow, wola


def test_own_district_and_citywide(pots):
    e, city, mokotow, wola = pots
    voter = make_voter(e, mokotow)
    assert identity.eligible_pots(voter) == [city, mokotow]
    identity.check_eligible(voter, mokotow)
    identity.check_eligible(voter, city)
    with pytest.raises(NotEligible) as exc:
        identity.check_eligible(voter, wola)
    assert exc.value.message == "This pot is for residents of Wola; you are on the roll for Mokotów."
    assert exc.value.status_code == 403


@pytest.mark.parametrize(
    ("dob", "ok"),
    [
        (dt.date(2010, 6, 1), True),  # 16th birthday on the reference day
        (dt.date(2010, 6, 2), False),  # one day short
        (dt.date(2008, 2, 29), True),
    ],
)
def test_minimum_age_on_reference_date(pots, dob, ok):
    e, city, mokotow, _wola = pots
    voter = make_voter(e, mokotow, dob=dob)
    assert (identity.eligible_pots(voter) == [city, mokotow]) is ok
    if not ok:
        with pytest.raises(NotEligible, match=r"^You must be 16 on 1 June 2026 to vote in this election\.$"):
            identity.check_eligible(voter, city)
        assert identity.ineligibility_reason(voter).startswith("You must be 16 on 1 June 2026")


def test_pot_of_another_election(pots):
    e, _city, mokotow, _wola = pots
    other = PotFactory(name="Elsewhere", slug="elsewhere")
    voter = make_voter(e, mokotow)
    with pytest.raises(NotEligible, match="not part of the election"):
        identity.check_eligible(voter, other)


def _no_citywide_for_1990s(voter, pot):
    if pot.is_citywide and voter.birth_year and 1990 <= voter.birth_year < 2000:
        return "Citywide voting for this group happens on paper."
    return None


def test_custom_rule_registry(pots):
    e, city, mokotow, _wola = pots
    voter = make_voter(e, mokotow, dob=dt.date(1995, 1, 1))
    eligibility.register_rule(_no_citywide_for_1990s)
    try:
        assert identity.eligible_pots(voter) == [mokotow]
        with pytest.raises(NotEligible, match="happens on paper"):
            identity.check_eligible(voter, city)
    finally:
        eligibility.unregister_rule(_no_citywide_for_1990s)
    assert identity.eligible_pots(voter) == [city, mokotow]


def test_custom_rule_from_settings(pots, settings):
    e, city, mokotow, _wola = pots
    settings.PB_ELIGIBILITY_RULES = ["tests.ballots.test_eligibility._no_citywide_for_1990s"]
    voter = make_voter(e, mokotow, dob=dt.date(1991, 3, 3))
    with pytest.raises(NotEligible, match="happens on paper"):
        identity.check_eligible(voter, city)


def test_no_age_limit(pots):
    e, city, mokotow, _wola = pots
    e.min_age = None
    e.save()
    voter = make_voter(e, mokotow, dob=dt.date(2020, 1, 1))
    assert identity.eligible_pots(voter) == [city, mokotow]
