"""Residents' accounts over HTTP: sign-up with a confirmed e-mail, sign-in (one axes lock-out for residents
and officials), password reset, e-mail change, data download, deletion that keeps submitted proposals
anonymous."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from ballots.models import Ballot, Participation, PendingBallot, VoterRollEntry, VotingCode
from pb.core.accounts.hooks import account_data_hooks
from pb.core.accounts.services import AccountNotDeletable, account_delete
from pb.core.models import AuditEvent, ElectionRole, Phase, Role
from proposals.models import Proposal, ProposalStatus
from tests.ballots.cast_support import build_voting, cast_ballots, identify
from tests.factories import (
    CategoryFactory,
    ElectionFactory,
    PotFactory,
    ProposalFactory,
    UserFactory,
    council,
    official,
)

pytestmark = pytest.mark.django_db

User = get_user_model()
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-Horse-7-Battery"
FACTORY_PASSWORD = "pw-for-tests-only"
LINK = re.compile(r"https?://testserver(/accounts/[^\s]+)")


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # allauth counts e-mails sent and sign-ups per address in the cache, which outlives a test's database.
    cache.clear()
    yield
    cache.clear()


def _link(message) -> str:
    found = LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


def _sign_up(client, email="rosa@example.org", password=PASSWORD, **extra):
    data = {"email": email, "password1": password, "password2": password, **extra}
    return client.post(reverse("account_signup"), data, REMOTE_ADDR="192.0.2.10")


def _sign_in(client, login, password=PASSWORD, ip="192.0.2.10", field="login"):
    return client.post(reverse("login"), {field: login, "password": password}, REMOTE_ADDR=ip)


def _confirm(client, message):
    url = _link(message)
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url)


def _resident(client, email="rosa@example.org"):
    """A resident who signed up and confirmed their address (not signed in)."""
    _sign_up(client, email)
    _confirm(client, mail.outbox[-1])
    client.logout()
    mail.outbox.clear()
    return User.objects.get(email=email)


@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.PROPOSALS_OPEN, slug="riverton")
    PotFactory(election=e, slug="north", name="North")
    CategoryFactory(election=e, slug="parks", name="Parks")
    return e


def _proposal_data(election, title="Benches on the towpath"):
    return {
        "title": title,
        "description": "Ten benches along the canal.",
        "pot": election.pots.get().pk,
        "category": election.categories.get().pk,
        "cost": "12000",
        "location": "Canal towpath",
        "latitude": "",
        "longitude": "",
    }


# ------------------------------------------------------------------------------------------- sign-up


def test_sign_up_confirm_sign_in_and_propose(client, election):
    assert client.get(reverse("account_signup")).status_code == 200
    r = _sign_up(client)
    assert r.status_code == 302 and r["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="rosa@example.org")
    # The username is a random handle: the audit log, which is never rewritten, does not name the resident.
    assert re.fullmatch(r"resident-[0-9a-f]{10}", user.username)
    assert "rosa" not in user.username
    # Not confirmed yet: not signed in, and a sign-in only sends the confirmation again.
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rosa@example.org"]
    assert mail.outbox[0].subject.startswith("[pb] ")
    r = _sign_in(Client(), "rosa@example.org")
    assert r.status_code == 302 and r["Location"] == reverse("account_email_verification_sent")
    r = client.post(reverse("proposals:create", args=[election.slug]), _proposal_data(election))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    # The link opens a page with a button (a mail scanner's GET confirms nothing); the POST confirms.
    url = _link(mail.outbox[0])
    assert client.get(url).status_code == 200
    assert not EmailAddress.objects.get(user=user).verified
    assert client.post(url).status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    # Sign in with the e-mail address, then propose.
    c = Client()
    r = _sign_in(c, "rosa@example.org")
    assert r.status_code == 302 and c.session["_auth_user_id"] == str(user.pk)
    r = c.post(reverse("proposals:create", args=[election.slug]), {**_proposal_data(election), "submit": "1"})
    assert r.status_code == 302
    p = Proposal.objects.get()
    assert (p.author_id, p.status) == (user.pk, ProposalStatus.SUBMITTED)


def test_confirmation_link_tampered_or_replayed(client):
    _sign_up(client)
    url = _link(mail.outbox[0])
    for bad in (
        url[:-3] + "xx/",
        "/accounts/confirm-email/%00garbage/",
        "/accounts/confirm-email/" + "A" * 5000 + "/",
    ):
        r = client.post(bad)
        assert r.status_code in (200, 400, 404)  # "expired or invalid", never a 500
    assert not EmailAddress.objects.get().verified
    assert client.post(url).status_code == 302
    assert client.post(url).status_code in (200, 302, 404)  # replay: nothing changes, no error
    assert EmailAddress.objects.filter(verified=True).count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "x" * 300 + "@example.org"}, "email"),
        ({"password2": "something-else-9"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password1"),
        ({"password1": "rosa@example.org", "password2": "rosa@example.org"}, "password1"),
    ],
)
def test_sign_up_refuses_bad_input_without_an_error_page(client, data, field):
    payload = {"email": "rosa@example.org", "password1": PASSWORD, "password2": PASSWORD, **data}
    r = client.post(reverse("account_signup"), payload)
    assert r.status_code == 200 and field in r.context["form"].errors
    assert 'id="form-errors"' in r.content.decode()
    assert not User.objects.exists() and not mail.outbox


def test_sign_up_with_a_taken_address_does_not_reveal_it(client):
    _resident(client)
    cache.clear()  # later than allauth's one-mail-per-address cool-down
    r = _sign_up(Client(), "ROSA@example.org", password="Another-Pass-42")
    # Same answer as a fresh sign-up; the owner is told by e-mail instead.
    assert r.status_code == 302 and r["Location"] == reverse("account_email_verification_sent")
    assert User.objects.count() == 1
    assert len(mail.outbox) == 1 and [a.lower() for a in mail.outbox[0].to] == ["rosa@example.org"]
    assert "already" in mail.outbox[0].body


def test_officials_made_by_administrators_still_sign_in_with_their_username(client):
    clerk = official(username="clerk")
    assert not EmailAddress.objects.filter(user=clerk).exists()
    r = _sign_in(client, "clerk", FACTORY_PASSWORD, field="username")  # Django's field name still works
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(clerk.pk)
    r = _sign_in(Client(), "clerk", FACTORY_PASSWORD)
    assert r.status_code == 302
    assert not mail.outbox


def test_an_official_who_adds_an_address_is_not_locked_out_by_it(client):
    clerk = official(username="clerk")
    client.force_login(clerk)
    r = client.post(reverse("account_email"), {"action_add": "", "email": "clerk.new@example.org"})
    assert r.status_code == 302
    assert EmailAddress.objects.filter(user=clerk, verified=False).exists()
    c = Client()
    assert _sign_in(c, "clerk", FACTORY_PASSWORD).status_code == 302
    assert c.session["_auth_user_id"] == str(clerk.pk)


def test_a_resident_who_never_confirmed_stays_out_even_by_username(client):
    _sign_up(client)
    rosa = User.objects.get()
    c = Client()
    r = _sign_in(c, rosa.username)
    assert r.status_code == 302 and r["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in c.session


def test_sign_in_page_and_signup_page_in_every_language(client):
    for lang in ("en", "vi", "zh-hans"):
        c = Client(headers={"accept-language": lang})
        for name in ("login", "account_signup", "account_reset_password"):
            r = c.get(reverse(name))
            assert r.status_code == 200
            assert f'<html lang="{lang}">' in r.content.decode()
            assert 'class="site-header"' in r.content.decode()  # the site's layout (_base.html)


# ------------------------------------------------------------------------------------------- lock-out


def test_repeated_failures_through_the_new_sign_in_lock_out(client):
    rosa = _resident(client)
    attacker = Client()
    # Alternating the username and the e-mail address counts against the one account.
    names = [rosa.username, "rosa@example.org", "ROSA@EXAMPLE.ORG"]
    statuses = [
        _sign_in(attacker, names[i % 3], f"guess-{i}", ip="198.51.100.7").status_code for i in range(12)
    ]
    assert statuses[:9] == [200] * 9 and set(statuses[9:]) == {429}
    r = _sign_in(attacker, "rosa@example.org", ip="198.51.100.7")
    assert r.status_code == 429 and 'id="login-locked"' in r.content.decode()
    assert int(r["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in attacker.session
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {rosa.username}
    # Another address signs in; the lock is not allauth's (its own sign-in limits are off).
    own = Client()
    assert _sign_in(own, "rosa@example.org", ip="203.0.113.5").status_code == 302


def test_residents_and_officials_share_the_lock_out_and_its_page(client):
    clerk = official(username="clerk")
    for i in range(10):
        _sign_in(client, "clerk", f"guess-{i}", ip="198.51.100.8")
    r = _sign_in(client, "clerk", FACTORY_PASSWORD, ip="198.51.100.8")
    assert r.status_code == 429 and "15 minutes" in r.content.decode()
    assert "_auth_user_id" not in client.session and clerk.pk


def test_garbage_logins_are_refused_plainly(client):
    for login in ("x" * 10_000, "a@" + "b" * 5000, "", "@", "\u202e@example.org"):
        r = _sign_in(client, login, "whatever", ip="198.51.100.9")
        assert r.status_code in (200, 400), login[:20]
    r = client.post(reverse("login"), {"login": ["a", "b"], "password": ["x", "y"]})
    assert r.status_code in (200, 400)


# ------------------------------------------------------------------------------------------- password reset


def test_password_reset(client):
    rosa = _resident(client)
    assert client.get("/accounts/password_reset/")["Location"] == reverse("account_reset_password")
    r = client.post(
        reverse("account_reset_password"), {"email": "Rosa@Example.org"}, REMOTE_ADDR="192.0.2.11"
    )
    assert r.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rosa@example.org"]
    url = _link(mail.outbox[0])
    r = client.get(url)  # the key moves into the session, the page URL no longer carries it
    assert r.status_code == 302
    form_url = r["Location"]
    assert client.get(form_url).status_code == 200
    new = "Another-Secret-31"
    r = client.post(form_url, {"password1": new, "password2": new})
    assert r.status_code == 302
    assert _sign_in(Client(), "rosa@example.org", PASSWORD).status_code == 200
    assert _sign_in(Client(), "rosa@example.org", new).status_code == 302
    # The link works once.
    c = Client()
    r = c.get(url, follow=True)
    assert r.status_code == 200 and r.context.get("token_fail")
    rosa.refresh_from_db()
    assert rosa.check_password(new)


def test_password_reset_for_an_unknown_address_looks_the_same(client):
    r = client.post(reverse("account_reset_password"), {"email": "nobody@example.org"})
    assert r.status_code == 302 and r["Location"] == reverse("account_reset_password_done")
    r = client.post(reverse("account_reset_password"), {"email": "not an address"})
    assert r.status_code == 200


# ------------------------------------------------------------------------------------------- e-mail change


def test_change_email_needs_the_new_address_confirmed(client):
    rosa = _resident(client)
    client.force_login(rosa)
    assert client.get(reverse("account_email")).status_code == 200
    r = client.post(reverse("account_email"), {"action_add": "", "email": "rosa.new@example.org"})
    assert r.status_code == 302
    rosa.refresh_from_db()
    assert rosa.email == "rosa@example.org"  # unchanged until confirmed
    assert mail.outbox[-1].to == ["rosa.new@example.org"]
    _confirm(client, mail.outbox[-1])
    rosa.refresh_from_db()
    assert rosa.email == "rosa.new@example.org"
    assert list(EmailAddress.objects.filter(user=rosa).values_list("email", "verified")) == [
        ("rosa.new@example.org", True)
    ]
    assert _sign_in(Client(), "rosa.new@example.org").status_code == 302
    assert _sign_in(Client(), "rosa@example.org", ip="192.0.2.12").status_code == 200


# ------------------------------------------------------------------------------------------- data download


def test_download_your_data(client, election):
    rosa = _resident(client)
    other = _resident(Client(), "ana@example.org")
    pot = election.pots.get()
    ProposalFactory(pot=pot, author=rosa, title="Mine, submitted", status=ProposalStatus.SUBMITTED)
    ProposalFactory(pot=pot, author=rosa, title="Mine, draft", status=ProposalStatus.DRAFT)
    ProposalFactory(pot=pot, author=other, title="Ana's", status=ProposalStatus.SUBMITTED)
    assert client.get(reverse("accounts:data"))["Location"].startswith("/accounts/login/")
    client.force_login(rosa)
    r = client.get(reverse("accounts:data"))
    assert r.status_code == 200 and r["Content-Type"].startswith("application/json")
    assert "attachment" in r["Content-Disposition"] and r["Cache-Control"] == "no-store"
    data = json.loads(r.content)
    assert data["format"] == "pb-account-data/1"
    assert data["account"]["email"] == "rosa@example.org"
    assert data["email_addresses"] == [{"email": "rosa@example.org", "verified": True, "primary": True}]
    assert sorted(p["title"] for p in data["proposals"]) == ["Mine, draft", "Mine, submitted"]
    assert "ana@example.org" not in r.content.decode()
    assert client.post(reverse("accounts:data")).status_code == 405


def test_proposals_register_their_account_hook():
    assert [h.name for h in account_data_hooks()] == ["proposals", "supports"]


# ------------------------------------------------------------------------------------------- deletion


@pytest.fixture
def rosa_with_proposals(client, election):
    rosa = _resident(client)
    pot = election.pots.get()
    kept = ProposalFactory(pot=pot, author=rosa, title="Submitted one", status=ProposalStatus.SUBMITTED)
    feasible = ProposalFactory(pot=pot, author=rosa, title="On the ballot", status=ProposalStatus.FEASIBLE)
    draft = ProposalFactory(pot=pot, author=rosa, title="Half-written", status=ProposalStatus.DRAFT)
    others = ProposalFactory(pot=pot, author=UserFactory(), status=ProposalStatus.DRAFT)
    return rosa, kept, feasible, draft, others


def test_delete_account_keeps_submitted_proposals_without_personal_data(client, rosa_with_proposals):
    rosa, kept, feasible, draft, others = rosa_with_proposals
    client.force_login(rosa)
    assert client.get(reverse("accounts:delete")).status_code == 200
    r = client.post(reverse("accounts:delete"), {"password": PASSWORD, "confirm": "on"})
    assert r.status_code == 302 and r["Location"] == reverse("core:home")
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(pk=rosa.pk).exists()
    assert not EmailAddress.objects.filter(email="rosa@example.org").exists()
    for p in (kept, feasible):
        p.refresh_from_db()
        assert p.author_id is None
        assert p.title in ("Submitted one", "On the ballot")
    assert not Proposal.objects.filter(pk=draft.pk).exists()
    assert Proposal.objects.filter(pk=others.pk, author__isnull=False).exists()
    event = AuditEvent.objects.get(action="account.delete")
    assert event.data == {
        "proposals.drafts_deleted": 1,
        "proposals.submitted_kept_anonymous": 2,
        "supports.supports_deleted": 0,
    }
    assert "rosa" not in json.dumps(event.data) and "rosa" not in event.actor_name
    # The old session and password are worth nothing now.
    assert client.get(reverse("accounts:home"))["Location"].startswith("/accounts/login/")
    assert _sign_in(Client(), "rosa@example.org", ip="192.0.2.13").status_code == 200
    # Replay of the deletion: asked to sign in, nothing else happens.
    r = client.post(reverse("accounts:delete"), {"password": PASSWORD, "confirm": "on"})
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(action="account.delete").count() == 1


def test_delete_needs_the_password_and_the_confirmation(client, rosa_with_proposals):
    rosa, kept, *_ = rosa_with_proposals
    client.force_login(rosa)
    for data in (
        {"password": "wrong", "confirm": "on"},
        {"password": PASSWORD},
        {},
        {"password": "x" * 100_000, "confirm": "on"},
        {"password": [PASSWORD, "x"], "confirm": "maybe"},
    ):
        r = client.post(reverse("accounts:delete"), data, REMOTE_ADDR="192.0.2.14")
        assert r.status_code in (400, 413), data.keys()
    assert User.objects.filter(pk=rosa.pk).exists()
    kept.refresh_from_db()
    assert kept.author_id == rosa.pk
    # A wrong password here counts towards the same sign-in lock-out.
    assert AccessAttempt.objects.filter(username=rosa.username).exists()


def test_password_guessing_through_deletion_is_locked_out_too(client, rosa_with_proposals):
    rosa, *_ = rosa_with_proposals
    client.force_login(rosa)
    for i in range(10):
        client.post(
            reverse("accounts:delete"), {"password": f"guess-{i}", "confirm": "on"}, REMOTE_ADDR="192.0.2.15"
        )
    r = client.post(
        reverse("accounts:delete"), {"password": PASSWORD, "confirm": "on"}, REMOTE_ADDR="192.0.2.15"
    )
    assert r.status_code == 429
    assert User.objects.filter(pk=rosa.pk).exists()


@pytest.mark.parametrize("make", [official, council, lambda **kw: UserFactory(is_staff=True, **kw)])
def test_official_council_and_staff_accounts_are_not_self_deleted(client, make):
    user = make(username="someone")
    client.force_login(user)
    assert "Delete your account" not in client.get(reverse("accounts:home")).content.decode()
    r = client.post(reverse("accounts:delete"), {"password": FACTORY_PASSWORD, "confirm": "on"})
    assert r.status_code == 400 and "administrator" in r.content.decode()
    assert User.objects.filter(pk=user.pk).exists()


def test_an_official_of_one_election_only_is_not_self_deleted_either():
    e = ElectionFactory()
    user = UserFactory()
    ElectionRole.objects.create(user=user, role=Role.OFFICIAL, election=e)
    with pytest.raises(AccountNotDeletable):
        account_delete(actor=user, user=user)


def test_nobody_deletes_someone_elses_account(rosa_with_proposals):
    rosa, *_ = rosa_with_proposals
    with pytest.raises(Exception, match="your own account"):
        account_delete(actor=UserFactory(), user=rosa)
    assert User.objects.filter(pk=rosa.pk).exists()


def test_deleting_twice_writes_one_audit_entry(rosa_with_proposals):
    rosa, *_ = rosa_with_proposals
    stale = User.objects.get(pk=rosa.pk)
    account_delete(actor=rosa, user=rosa)
    with pytest.raises(AccountNotDeletable):
        account_delete(actor=stale, user=stale)
    assert AuditEvent.objects.filter(action="account.delete").count() == 1


def test_ballots_and_participation_are_not_account_data():
    """Deleting a voter's account touches no ballot, participation, code or roll row: none refers to an
    account."""
    for model in (Ballot, PendingBallot, Participation, VotingCode, VoterRollEntry):
        for field in model._meta.get_fields():
            assert getattr(field, "related_model", None) is not User, f"{model.__name__}.{field.name}"
    v = build_voting()
    voter_account = UserFactory(username="voter")
    c = Client()
    c.force_login(voter_account)
    identify(c, v.election, v.voter)
    r = c.post(reverse("ballots:ballot_cast", args=[v.election.slug, v.city.slug]), {"project": ["C1"]})
    assert r.status_code == 200 and "has been cast" in r.content.decode()
    before = (cast_ballots(), list(Participation.objects.values()), list(VotingCode.objects.values()))
    account_delete(actor=voter_account, user=voter_account)
    after = (cast_ballots(), list(Participation.objects.values()), list(VotingCode.objects.values()))
    assert before == after and len(before[0]) == 1


# ------------------------------------------------------------------------------------------- settings


def _mail_settings(env: dict) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps(s.MAILERS['default']))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "pb.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_email_goes_to_the_console_by_default_and_smtp_from_the_environment():
    assert _mail_settings({})["BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    smtp = _mail_settings(
        {"EMAIL_HOST": "mail.example.org", "EMAIL_HOST_USER": "pb", "EMAIL_HOST_PASSWORD": "s"}
    )
    assert smtp["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert smtp["OPTIONS"] | {} == {
        "host": "mail.example.org",
        "port": 587,
        "username": "pb",
        "password": "s",
        "use_ssl": False,
        "use_tls": True,
        "timeout": 10,
    }
    ssl = _mail_settings({"EMAIL_HOST": "mail.example.org", "EMAIL_USE_SSL": "1"})["OPTIONS"]
    assert (ssl["port"], ssl["use_ssl"], ssl["use_tls"]) == (465, True, False)


def test_production_without_an_smtp_server_fails_the_deploy_check():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env={
            **env,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "k" * 64,
            "DJANGO_ALLOWED_HOSTS": "pb.example.org",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "mail.E001" in result.stdout + result.stderr


def test_pb_core_accounts_imports_no_higher_app():
    """Deletion and export reach proposals only through the hooks proposals registers (no upward import)."""
    import ast

    for path in (ROOT / "pb" / "core" / "accounts").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in {"proposals", "ballots", "tally"}, f"{path.name}: {name}"
