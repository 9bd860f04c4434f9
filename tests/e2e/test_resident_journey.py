"""One new resident's whole way through an election's first phases, in one browser session at phone width:

1. proposals open: sign up, confirm the e-mail address by the link from the outbox, sign in, propose with the
   location picked by clicking the map and a photo with alt text, comment on another proposal and follow it;
   a rude comment is posted and a second resident reports it;
2. supports: the resident supports two proposals (the second resident supports the resident's own);
3. review: an official, in a browser context of their own, hides the reported comment with a public reason
   (refused without one) and reviews the resident's proposal;
4. the resident sees both events on the notifications page, and the e-mails are in the outbox: the review's at
   once (sent by the notification task), the comment in the digest (its cron command queues the task), the
   hidden one in neither;
5. the resident resets their password by the e-mailed link, cannot use the link twice nor the old password,
   and signs in with the new one.

The official moves the phases from the manage page. axe-core checks each page the first time the journey
reaches it, at 390 px (tests/e2e/journey_helpers.FirstVisits)."""

import io
import json
from contextlib import ExitStack

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from PIL import Image
from playwright.sync_api import expect

from pb.core.districts.shapes import pot_shape_set
from pb.core.models import AuditEvent, Phase
from proposals.comments.models import Comment
from proposals.follows.models import Follow
from proposals.models import Proposal, ProposalStatus
from tests.e2e.conftest import PASSWORD as FACTORY_PASSWORD
from tests.e2e.journey_helpers import (
    PHONE,
    FirstVisits,
    account_link,
    advance_phase,
    attach_photo,
    confirm_email,
    district_shapes,
    fill_proposal,
    fill_sign_up,
    follow,
    hide_comment,
    mails_to,
    new_page,
    open_hide_comment,
    password_reset_ask,
    password_reset_set,
    photo,
    pick_map_centre,
    post_comment,
    report_comment,
    review_feasible,
    sign_in,
    submit_proposal,
    support,
)
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    official,
)

pytestmark = pytest.mark.e2e

EMAIL = "rosa@example.org"
PASSWORD = "Correct-Horse-7-Battery"
NEW_PASSWORD = "Brand-New-Secret-58"
RUDE = "Only idiots sit on benches."
HIDE_REASON = "Insults other residents (house rule 2)."


@pytest.fixture
def riverton(base_url, settings, tmp_path):
    """Proposals open, a supports phase after it (two supports each; one support takes a proposal on to
    review), two districts with their outlines and a citywide pot, three proposals by others."""
    cache.clear()  # rate limits of earlier tests
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PB_MAP_TILE_URL = ""  # no internet: the district outlines alone
    settings.PB_PUBLIC_URL = base_url  # links in notification e-mails
    e = ElectionFactory(
        phase=Phase.PROPOSALS_OPEN,
        slug="riverton",
        name="Riverton PB",
        supports_enabled=True,
        supports_per_resident=2,
        supports_threshold=1,
    )
    olga = official(username="olga")
    shapes = district_shapes()
    pots = {}
    for slug, name in (("northbank", "Northbank"), ("old-town", "Old Town")):
        pots[slug] = PotFactory(election=e, slug=slug, name=name, budget=200_000)
        pot_shape_set(actor=olga, pot=pots[slug], raw=json.dumps(shapes[slug]))
    city = PotFactory(election=e, slug="city", name="Citywide", is_citywide=True, budget=300_000)
    CategoryFactory(election=e, slug="parks", name="Parks")
    submitted = ProposalStatus.SUBMITTED
    amara = UserFactory(username="amara")
    ProposalFactory(
        pot=pots["northbank"], code="P001", title="Lamps on the towpath", status=submitted, author=amara
    )
    ProposalFactory(pot=city, code="P002", title="Open-air cinema", status=submitted)
    ProposalFactory(pot=pots["old-town"], code="P003", title="Picnic tables", status=submitted)
    return e


def test_a_new_resident_from_sign_up_to_a_new_password(browser, base_url, login, riverton, tmp_path):
    checked = FirstVisits()
    lamps = f"{base_url}/proposals/riverton/P001/"
    UserFactory(username="troll")
    UserFactory(username="minh")
    with ExitStack() as people:

        def phone():
            context, page = new_page(browser, viewport=PHONE)
            people.callback(context.close)
            checked.watch(page)
            return page

        rosa = phone()

        # 1. Proposals open. Sign up (a mistyped repetition first), confirm by the e-mailed link, sign in.
        rosa.goto(base_url)
        checked(rosa)
        rosa.get_by_role("link", name="Create an account").click()
        checked(rosa)
        fill_sign_up(rosa, EMAIL, PASSWORD, again="not the same")
        expect(rosa.get_by_role("alert")).to_contain_text("correct the errors")
        fill_sign_up(rosa, EMAIL, PASSWORD)
        checked(rosa)
        assert [m.to for m in mail.outbox] == [[EMAIL]]
        confirm_email(rosa, base_url, mail.outbox[0], on_page=checked)
        sign_in(rosa, base_url, EMAIL, PASSWORD, on_page=checked)
        handle = get_user_model().objects.get(email=EMAIL).get_username()
        expect(rosa.get_by_role("button", name=f"Sign out ({handle})")).to_be_visible()

        # Propose, with the place picked on the map and a photo (whose EXIF position is stripped).
        rosa.goto(f"{base_url}/elections/riverton/")
        checked(rosa)
        rosa.get_by_role("link", name="Propose a project").click()
        checked(rosa)
        fill_proposal(
            rosa,
            title="Benches by the river",
            description="Six benches with backrests along the river.",
            district="Northbank",
            category="Parks",
            cost="12000",
            location="River walk by the mill",
        )
        lat, lon = pick_map_centre(rosa)
        assert 51.52 < lat < 51.57 and -0.13 < lon < -0.07  # inside Riverton's districts
        attach_photo(rosa, photo(tmp_path), "An empty river bank")
        submit_proposal(rosa)
        checked(rosa)
        benches = Proposal.objects.get(title="Benches by the river")
        assert (benches.author.email, benches.status) == (EMAIL, ProposalStatus.SUBMITTED)
        assert (float(benches.latitude), float(benches.longitude)) == (round(lat, 6), round(lon, 6))
        assert benches.image_alt == "An empty river bank" and benches.image_thumb
        with Image.open(benches.image.path) as img:
            assert not img.getexif()
        expect(rosa.get_by_role("img", name="An empty river bank")).to_be_visible()
        assert Follow.objects.filter(user=benches.author, proposal=benches).exists()  # authors follow

        # Comment on another proposal and follow it.
        rosa.goto(lamps)
        post_comment(rosa, "Lamps would make the towpath safe after dark.")
        follow(rosa)

        # Someone is rude there; a second resident reports it.
        troll = phone()
        login(troll, "troll", FACTORY_PASSWORD)
        troll.goto(lamps)
        post_comment(troll, RUDE)
        rude = Comment.objects.get(author__username="troll")
        minh = phone()
        login(minh, "minh", FACTORY_PASSWORD)
        minh.goto(lamps)
        post_comment(minh, "Yes, and light the bridge too.")
        report_comment(minh, "troll", "Insulting", on_page=checked)

        # 2. Supports: the official opens the phase; the resident supports two proposals.
        olga = phone()
        login(olga, "olga", FACTORY_PASSWORD)
        advance_phase(olga, base_url, "riverton", "Supports", on_page=checked)
        rosa.goto(lamps)
        support(rosa, "1 resident supports this proposal.")
        rosa.goto(f"{base_url}/proposals/riverton/P002/")
        support(rosa, "1 resident supports this proposal.")
        expect(rosa.locator("#support-box")).to_contain_text("You have used 2 of your 2 supports.")
        minh.goto(f"{base_url}/proposals/riverton/{benches.code}/")
        support(minh, "1 resident supports this proposal.")

        # 3. Review: supported proposals go on, the unsupported one does not.
        advance_phase(olga, base_url, "riverton", "Review")
        statuses = dict(Proposal.objects.values_list("code", "status"))
        assert statuses == {
            "P001": ProposalStatus.SUBMITTED,
            "P002": ProposalStatus.SUBMITTED,
            "P003": ProposalStatus.NOT_SELECTED,
            benches.code: ProposalStatus.SUBMITTED,
        }
        open_hide_comment(olga, base_url, "riverton", rude.pk, on_page=checked)
        checked(olga)
        olga.get_by_role("button", name="Hide comment").click()  # no reason: refused, nothing hidden
        expect(olga.get_by_role("alert")).to_be_visible()
        rude.refresh_from_db()
        assert not rude.is_hidden
        hide_comment(olga, rude.pk, HIDE_REASON)
        review_feasible(olga, base_url, "riverton", benches.code, on_page=checked)

        audited = list(AuditEvent.objects.values_list("action", flat=True))
        assert audited.count("comment.report") == 1 and audited.count("comment.hide") == 1
        assert audited.count("election.phase") == 2 and audited.count("proposal.supports_decision") == 4
        assert AuditEvent.objects.filter(action="proposal.review", data__code=benches.code).exists()

        # 4. The resident: their proposal went on (in words that agree with the numbers), the comment
        # hidden with its reason, the notifications, the e-mails.
        rosa.goto(f"{base_url}/proposals/riverton/{benches.code}/")
        expect(rosa.locator("#support-decision")).to_have_text(
            "Went on to review with 1 support (at least 1 needed)."
        )
        rosa.goto(lamps)
        hidden = rosa.locator(f"#comment-{rude.pk}")
        expect(hidden).to_contain_text(HIDE_REASON)
        expect(hidden).not_to_contain_text("idiots")
        rosa.get_by_role("link", name="Notifications").click()
        checked(rosa)
        notes = rosa.locator("#notifications")
        expect(notes).to_contain_text(f"{benches.code} “Benches by the river” was reviewed: feasible")
        expect(notes).to_contain_text("New comment by minh on P001")
        expect(notes).not_to_contain_text("troll")  # a hidden comment is no longer announced
        expect(rosa.locator(".notification.unread")).to_have_count(2)

        review_mail = [m for m in mails_to(mail.outbox, EMAIL) if "reviewed: feasible" in m.subject]
        assert len(review_mail) == 1
        assert f"{base_url}/proposals/riverton/{benches.code}/" in review_mail[0].body
        call_command("notifications_digest", stdout=io.StringIO())
        digest = [m for m in mails_to(mail.outbox, EMAIL) if "New comments" in m.subject]
        assert len(digest) == 1 and "New comment by minh on P001" in digest[0].body
        assert "troll" not in digest[0].body
        assert RUDE not in digest[0].body

        # 5. Password reset by the e-mailed link; the link works once; the old password no longer does.
        rosa.get_by_role("button", name=f"Sign out ({handle})").click()
        before = len(mail.outbox)
        password_reset_ask(rosa, base_url, EMAIL, on_page=checked)
        checked(rosa)
        (reset_mail,) = mail.outbox[before:]
        assert reset_mail.to == [EMAIL]
        password_reset_set(rosa, base_url, reset_mail, NEW_PASSWORD, on_page=checked)
        checked(rosa)
        rosa.goto(base_url + account_link(reset_mail))  # a second time
        expect(rosa.get_by_role("alert")).to_contain_text("expired or has been used already")
        sign_in(rosa, base_url, EMAIL, PASSWORD)
        expect(rosa.get_by_role("button", name=f"Sign out ({handle})")).to_have_count(0)
        sign_in(rosa, base_url, EMAIL, NEW_PASSWORD)
        expect(rosa.get_by_role("button", name=f"Sign out ({handle})")).to_be_visible()

    assert checked.missed() == []
    assert checked.checked == [
        "core:home",
        "account_signup",
        "account_email_verification_sent",
        "account_confirm_email",
        "login",
        "core:election",
        "proposals:create",
        "proposals:detail",
        "proposals:comment_report",
        "core:manage",
        "core:advance",
        "proposals:comments_moderation",
        "proposals:comment_hide",
        "proposals:review",
        "notifications:list",
        "account_reset_password",
        "account_reset_password_done",
        "account_reset_password_from_key",
        "account_reset_password_from_key_done",
    ]


def test_first_visits_fails_on_a_violation_and_names_pages_left_unchecked(browser, base_url):
    """The journey's check is not a formality: it fails on an unlabelled field and on a page wider than the
    phone, checks a page pattern once, and a page reached without a check is named."""
    checked = FirstVisits()
    context, page = new_page(browser, viewport=PHONE)
    try:
        checked.watch(page)
        page.goto(f"{base_url}/accounts/signup/")
        page.evaluate("document.querySelector('label[for=id_email]').remove()")
        page.evaluate("document.querySelector('#id_email').removeAttribute('placeholder')")
        with pytest.raises(AssertionError, match="label"):
            checked(page)
        page.goto(f"{base_url}/accounts/login/")
        checked(page)
        page.goto(f"{base_url}/accounts/login/?next=/")
        page.evaluate("document.querySelector('label[for=id_login]').remove()")
        checked(page)  # the same page pattern: not checked again
        assert checked.checked == ["login"]
        assert checked.missed() == ["account_signup"]
        page.goto(f"{base_url}/accounts/password/reset/")
        page.evaluate(
            "document.querySelector('main').append("
            "Object.assign(document.createElement('div'), {style: 'width: 600px; height: 1px'}))"
        )
        with pytest.raises(AssertionError, match="scrolls sideways"):
            checked(page)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{base_url}/accounts/password/reset/")
        with pytest.raises(AssertionError, match="1280"):
            checked(page)  # the wrong width is not taken for the phone
    finally:
        context.close()
