"""Official content per language: the fallback helper, the audited services (permission, garbage, races
with the frozen definition) and the officials' pages."""

import pytest
from django.utils import translation

from pb.core.exceptions import DomainError, PermissionDenied
from pb.core.i18n import clean_translations, localized
from pb.core.models import AuditEvent, Phase
from pb.core.services import election_names_translate
from proposals.exceptions import ProposalInvalid
from proposals.services import proposal_translate
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site_language_afterwards():
    """Requests here ask for vi and zh-hans; the language a response activated must not leak into the
    tests that run next in this thread."""
    yield
    translation.activate("en")


def test_localized_picks_the_active_language_and_falls_back():
    names = {"vi": "Quận Bắc", "zh-hans": "北区", "en": ""}
    with translation.override("vi"):
        assert localized("North", names) == "Quận Bắc"
    with translation.override("zh-hans"):
        assert localized("North", names) == "北区"
    with translation.override("en"):
        assert localized("North", names) == "North"  # empty translation: the original
    assert localized("North", names, "ZH-HANS") == "北区"
    for garbage in (None, {}, [], "vi", {"vi": 3}, {"vi": "   "}):
        assert localized("North", garbage, "vi") == "North"


def test_clean_translations_refuses_garbage():
    assert clean_translations({"VI": "  Bắc ", "zh-hans": ""}, max_length=10) == {"vi": "Bắc"}
    for bad in ({"fr": "Nord"}, {"vi": 5}, {"vi": "x" * 11}, {"vi": "a\x00b"}, {"../../etc": "x"}):
        with pytest.raises(ValueError):
            clean_translations(bad, max_length=10)


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.VOTING_OPEN)
    PotFactory(election=e, slug="north", name="North")
    CategoryFactory(election=e, slug="parks", name="Parks")
    return e


def test_an_official_translates_names_in_any_phase_and_it_is_audited(election):
    o = official()
    changed = election_names_translate(
        actor=o,
        election=election,
        pots={"north": {"vi": "Quận Bắc", "zh-hans": "北区"}},
        categories={"parks": {"vi": "Công viên"}},
    )
    assert changed == ["pot:north", "category:parks"]
    pot = election.pots.get()
    assert pot.name == "North" and pot.name_i18n == {"vi": "Quận Bắc", "zh-hans": "北区"}
    with translation.override("vi"):
        assert pot.local_name == "Quận Bắc"
        assert election.categories.get().local_name == "Công viên"
    event = AuditEvent.objects.get(action="pot.translate")
    assert event.data["after"] == {"vi": "Quận Bắc", "zh-hans": "北区"} and event.election_id == election.pk
    # Saving the same again changes nothing and writes no entry; an empty name removes the translation.
    assert (
        election_names_translate(
            actor=o, election=election, pots={"north": {"vi": "Quận Bắc", "zh-hans": "北区"}}
        )
        == []
    )
    election_names_translate(actor=o, election=election, pots={"north": {"vi": "", "zh-hans": "北区"}})
    assert election.pots.get().name_i18n == {"zh-hans": "北区"}
    assert AuditEvent.objects.filter(action="pot.translate").count() == 2


def test_residents_and_other_elections_cannot_translate(election):
    before = election.pots.get().name_i18n
    with pytest.raises(PermissionDenied):
        election_names_translate(actor=UserFactory(), election=election, pots={"north": {"vi": "X"}})
    with pytest.raises(DomainError):  # a pot of another election is not addressable through this one
        election_names_translate(actor=official(), election=election, pots={"other": {"vi": "X"}})
    with pytest.raises(DomainError):
        election_names_translate(actor=official(), election=election, pots={"north": {"fr": "Nord"}})
    with pytest.raises(DomainError):
        election_names_translate(actor=official(), election=election, pots={"north": {"vi": "x" * 121}})
    assert election.pots.get().name_i18n == before
    assert not AuditEvent.objects.filter(action="pot.translate").exists()


def test_translating_after_the_freeze_leaves_the_frozen_definition_alone(election):
    from ballots.definition import definition_build

    definition = definition_build(election)
    election_names_translate(actor=official(), election=election, pots={"north": {"vi": "Quận Bắc"}})
    assert definition_build(election) == definition  # display only: the signed bytes do not move


def test_proposal_translation_service(election):
    proposal = ProposalFactory(pot=election.pots.get(), title="Benches", description="New benches.")
    o = official()
    proposal_translate(actor=o, proposal=proposal, titles={"vi": "Ghế đá"}, descriptions={"vi": "Ghế mới."})
    proposal.refresh_from_db()
    assert (proposal.title, proposal.title_i18n) == ("Benches", {"vi": "Ghế đá"})
    with translation.override("vi"):
        assert (proposal.local_title, proposal.local_description) == ("Ghế đá", "Ghế mới.")
    with translation.override("zh-hans"):
        assert proposal.local_title == "Benches"
    assert AuditEvent.objects.get(action="proposal.translate").data["after"]["title_i18n"] == {"vi": "Ghế đá"}
    with pytest.raises(ProposalInvalid):
        proposal_translate(actor=o, proposal=proposal, titles={"vi": "x" * 141}, descriptions={})
    with pytest.raises(PermissionDenied):
        proposal_translate(actor=UserFactory(), proposal=proposal, titles={"vi": "Hacked"}, descriptions={})
    proposal.refresh_from_db()
    assert proposal.title_i18n == {"vi": "Ghế đá"}


def test_translation_pages(client, election):
    o = official()
    url = f"/elections/{election.slug}/manage/translations/"
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403
    assert client.post(url, {"pot-north-vi": "X"}).status_code == 403
    assert election.pots.get().name_i18n == {}
    client.force_login(o)
    page = client.get(url)
    assert page.status_code == 200 and b'name="pot-north-vi"' in page.content and b'lang="vi"' in page.content
    assert b'name="pot-north-en"' not in page.content  # the original is the site's language
    resp = client.post(url, {"pot-north-vi": "Quận Bắc", "category-parks-zh-hans": "公园"})
    assert resp.status_code == 302
    assert election.pots.get().name_i18n == {"vi": "Quận Bắc"}
    assert election.categories.get().name_i18n == {"zh-hans": "公园"}
    assert client.post(url, {"pot-north-vi": "x" * 500}).status_code == 400  # never a 500
    assert election.pots.get().name_i18n == {"vi": "Quận Bắc"}
    assert client.get("/elections/no-such-election/manage/translations/").status_code == 404
    # The public election page shows the translation in Vietnamese.
    assert "Quận Bắc" in client.get(f"/elections/{election.slug}/", HTTP_ACCEPT_LANGUAGE="vi").text


def test_proposal_translation_page_and_public_pages(client, election):
    proposal = ProposalFactory(pot=election.pots.get(), code="P007", title="Benches")
    url = f"/proposals/{election.slug}/P007/translate/"
    client.force_login(UserFactory())
    assert client.post(url, {"title-vi": "Hacked"}).status_code == 403
    client.force_login(official())
    assert client.get(url).status_code == 200
    assert client.post(url, {"title-vi": "x" * 200}).status_code == 400
    resp = client.post(url, {"title-vi": "Ghế đá", "description-vi": "Ghế mới.", "title-zh-hans": "长椅"})
    assert resp.status_code == 302
    proposal.refresh_from_db()
    assert proposal.title_i18n == {"vi": "Ghế đá", "zh-hans": "长椅"}
    detail = client.get(f"/proposals/{election.slug}/P007/", HTTP_ACCEPT_LANGUAGE="vi").text
    assert "Ghế đá" in detail and "Ghế mới." in detail
    listing = client.get(f"/proposals/{election.slug}/", HTTP_ACCEPT_LANGUAGE="zh-hans").text
    assert "长椅" in listing
    assert "Benches" in client.get(f"/proposals/{election.slug}/", HTTP_ACCEPT_LANGUAGE="en").text


def test_the_ballot_shows_the_voters_language_even_after_a_first_view(
    client, django_capture_on_commit_callbacks
):
    from tests.ballots.cast_support import build_voting, identify

    v = build_voting()
    identify(client, v.election, v.voter)
    url = f"/vote/{v.election.slug}/{v.city.slug}/"
    first = client.get(url, HTTP_ACCEPT_LANGUAGE="vi")
    assert first.status_code == 200 and "Citywide" in first.text  # no translation yet: the original
    with django_capture_on_commit_callbacks(execute=True):  # as committed (pb.core.content)
        election_names_translate(
            actor=official(), election=v.election, pots={"city": {"vi": "Toàn thành phố"}}
        )
        c1 = v.city.proposals.get(code="C1")
        proposal_translate(actor=official(), proposal=c1, titles={"vi": "Công viên mới"}, descriptions={})
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="vi").text
    assert "Toàn thành phố" in page and "Công viên mới" in page
    assert 'value="C1"' in page  # the mark is still the project's code
    review = client.post(url, {"project": ["C1"]}, HTTP_ACCEPT_LANGUAGE="vi").text
    assert "Công viên mới" in review and "Toàn thành phố" in review
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").text
    assert "Citywide" in english and "City project C1" in english and "Toàn thành phố" not in english
