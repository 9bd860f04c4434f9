"""The engine's structured reasons (tally.engine.reasons) in the reader's words: every code has a sentence,
with amounts and counts in the reader's number format; an unknown code falls back to the engine's text."""

import pytest
from django.utils import translation

from tally.engine.reasons import CODES
from tally.explain import unfunded_reason, why_text

# One example of each code's fields (as the engine writes them: integers, exact "p/q" plus a decimal).
FIELDS = {
    "round": 3,
    "position": 2,
    "score": 1234,
    "cost": 150000,
    "remaining_before": 200000,
    "remaining_after": 50000,
    "remaining": 46502,
    "supporters": 58,
    "per_voter_budget": "2500",
    "per_voter_budget_decimal": "2500.00",
    "money_before": "301000/2",
    "money_before_decimal": "150500.00",
    "money_left": "9300508/200",
    "money_left_decimal": "46502.54",
    "money_start": "145000",
    "money_start_decimal": "145000.00",
    "max_payment": "2500",
    "max_payment_decimal": "2500.00",
    "effective": "60",
    "effective_decimal": "60.000",
    "threshold": 3000,
    "budget": 100000,
    "stopped_at": "P007",
    "new_load": "1/3",
    "new_load_decimal": "0.3333",
    "shared_with": "P004",
    "shared_with_round": 1,
    "shared_supporters": 31,
    "prefer_mes": 1615,
    "prefer_greedy": 873,
    "option": "never",
}


@pytest.mark.parametrize("code", CODES)
def test_every_code_reads_as_a_sentence(code):
    text = why_text({"code": code, **FIELDS}, "EUR")
    assert text and text[0].isupper() and "_" not in text and "%(" not in text, (code, text)


def test_numbers_follow_the_reader_and_fractions_show_their_decimal():
    why = {"code": "not_enough_money", **FIELDS}
    with translation.override("en"):
        en = why_text(why, "EUR")
    assert "46,502.54 EUR" in en and "150,000 EUR" in en and "58 supporters" in en
    assert "31 of them also supported P004, funded in round 1." in en
    with translation.override("vi"):
        vi = why_text(why, "VND")
    assert "46.502,54 VND" in vi and "150.000 VND" in vi and "46,502" not in vi


def test_unknown_or_missing_reasons_fall_back_to_the_engine_text():
    assert why_text({"code": "a_new_code"}, "EUR") == ""
    assert why_text(None, "EUR") == "" and why_text("garbage", "EUR") == ""  # type: ignore[arg-type]
    fallback = unfunded_reason("P1", "its 3 supporters had 1,000 left in total, it needed 2,000", [], "EUR")
    assert fallback == "Its 3 supporters had 1,000 left in all; it needed 2,000."


def test_the_results_page_says_the_structured_reasons(world, client):
    world.through_certify()
    world.publish()
    page = client.get(f"/results/{world.election.slug}/").content.decode()
    assert "Funded: it costs" in page  # the greedy rounds' `why`, not the engine's English


def test_projects_nobody_voted_for_follow_the_frozen_option(world, client):
    # The definition states the option (default: never); the result page says which applied.
    from ballots.definition import frozen_definition

    world.through_certify()
    world.publish()
    definition, _sha = frozen_definition(world.election)
    assert definition["counting"]["options"] == {"unsupported": "never"}
    page = client.get(f"/results/{world.election.slug}/").content.decode()
    assert "Projects nobody voted for are never funded" in page
