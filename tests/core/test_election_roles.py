"""Roles per election: a grant on election A gives no right on election B, over real HTTP, for every official
action of the core, proposals, ballots and tally apps; group membership and all-elections grants still
work."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from pb.core.exceptions import PermissionDenied
from pb.core.models import AuditEvent, ElectionRole, Phase, Role, user_roles
from pb.core.permissions import MATRIX, RESIDENT, allowed, is_official, require
from pb.core.services import election_role_grant, election_role_revoke
from tests.ballots.roll_support import make_voter
from tests.factories import ElectionFactory, PotFactory, ProposalFactory, UserFactory, official

pytestmark = pytest.mark.django_db


def _grant(user, role, election=None):
    return election_role_grant(actor=None, user=user, role=role, election=election)


def _pair(phase):
    """Elections A and B in the same phase, each with a district, a citywide pot, a proposal and a voter."""
    out = []
    for name in ("a", "b"):
        e = ElectionFactory(slug=f"roles-{name}", phase=phase)
        PotFactory(election=e, slug="city", name="City", is_citywide=True)
        district = PotFactory(election=e, slug="north", name="North")
        ProposalFactory(pot=district, code="P001", status="submitted")
        ProposalFactory(pot=district, code="P002", status="submitted")
        make_voter(e, district, ref="REF-1", dob=dt.date(1990, 1, 2))
        out.append(e)
    return out


# (phase, role, HTTP method, url name, url kwargs after the slug, POST data). Each is an action that needs
# the role on the election named in the URL.
OFFICIAL_ACTIONS = [
    # pb/core
    (Phase.PROPOSALS_OPEN, "get", "core:manage", {}, None),
    (Phase.PROPOSALS_OPEN, "get", "core:advance", {}, None),
    (Phase.PROPOSALS_OPEN, "post", "core:advance", {}, {"to_phase": Phase.REVIEW}),
    # proposals
    (Phase.PROPOSALS_OPEN, "get", "proposals:import", {}, None),
    (Phase.PROPOSALS_OPEN, "get", "proposals:import_template", {}, None),
    (Phase.PROPOSALS_OPEN, "get", "proposals:export", {"fmt": "csv"}, None),
    (Phase.REVIEW, "get", "proposals:review", {"code": "P001"}, None),
    (
        Phase.REVIEW,
        "post",
        "proposals:review",
        {"code": "P001"},
        {"decision": "not_feasible", "reason": "Outside the city's remit."},
    ),
    (Phase.REVIEW, "post", "proposals:merge", {"code": "P002"}, {"keep": "P001", "reason": "Same bench."}),
    # ballots: roll and codes
    (Phase.DRAFT, "get", "ballots:roll", {}, None),
    (Phase.DRAFT, "get", "ballots:roll_export", {}, None),
    (Phase.DRAFT, "get", "ballots:codes", {}, None),
    (Phase.DRAFT, "post", "ballots:codes_generate", {}, {"limit": 10, "output": "csv"}),
    (Phase.DRAFT, "post", "ballots:codes_void", {}, {"reference": "REF-1"}),
    (Phase.DRAFT, "post", "ballots:codes_reissue", {}, {"reference": "REF-1"}),
    # ballots: booth, paper, turnout
    (Phase.VOTING_OPEN, "get", "ballots:booth", {}, None),
    (
        Phase.VOTING_OPEN,
        "post",
        "ballots:booth",
        {},
        {"booth-reference": "REF-1", "booth-date_of_birth": "1990-01-02", "booth-booth": "Hall"},
    ),
    (Phase.VOTING_OPEN, "get", "ballots:paper_batches", {}, None),
    (Phase.VOTING_OPEN, "get", "ballots:turnout", {}, None),
    # tally
    (Phase.VOTING_OPEN, "get", "tally:manage", {}, None),
    (Phase.VOTING_OPEN, "get", "tally:run_status", {}, None),
    (Phase.VOTING_OPEN, "post", "tally:action", {"action": "close-request"}, {}),
    (Phase.VOTING_CLOSED, "post", "tally:action", {"action": "count"}, {}),
    (Phase.TALLIED, "post", "tally:action", {"action": "signoff-recount"}, {}),
]
COUNCIL_ACTIONS = [
    (Phase.VOTING_OPEN, "get", "ballots:turnout", {}, None),
    (Phase.TALLIED, "get", "tally:manage", {}, None),
    (Phase.TALLIED, "post", "tally:action", {"action": "certify"}, {}),
    (Phase.CERTIFIED, "post", "tally:action", {"action": "publish"}, {}),
]


def _hit(client, method, name, slug, kwargs, data):
    url = reverse(name, kwargs={"slug": slug, **kwargs})
    return client.post(url, data or {}) if method == "post" else client.get(url)


def _walk(client, user, actions, role):
    for phase, method, name, kwargs, data in actions:
        a, b = _pair(phase)
        _grant(user, role, a)
        client.force_login(user)
        refused = _hit(client, method, name, b.slug, kwargs, data)
        assert refused.status_code == 403, (name, kwargs, refused.status_code)
        # Refused before anything happened: no audit entry for B, B unchanged.
        assert not AuditEvent.objects.filter(election=b).exclude(action="role.grant").exists(), name
        b.refresh_from_db()
        assert b.phase == phase
        if kwargs.get("action") == "publish":
            # A's side through the gate only: publishing needs a real certification, which this bare
            # election in the "certified" phase does not have.
            assert allowed(user, "election.publish", a)
        else:
            done = _hit(client, method, name, a.slug, kwargs, data)
            assert done.status_code != 403 and done.status_code < 500, (name, kwargs, done.status_code)
        for e in (a, b):
            e.role_grants.all().delete()
        # Each pair is thrown away (fresh slugs for the next one).
        for e in (a, b):
            e.slug = f"{e.slug}-done-{e.pk}"
            e.save(update_fields=["slug"])


def test_official_of_a_is_refused_on_every_official_action_of_b_and_allowed_on_a(client, settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path
    _walk(client, UserFactory(username="official-a"), OFFICIAL_ACTIONS, Role.OFFICIAL)


def test_council_of_a_is_refused_on_b_and_allowed_on_a(client, settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path
    _walk(client, UserFactory(username="council-a"), COUNCIL_ACTIONS, Role.COUNCIL)


def test_every_official_matrix_action_follows_the_grant():
    """Service level: `require` on each MATRIX action, granted election vs another, for each role."""
    a, b = ElectionFactory(), ElectionFactory()
    for role in Role.values:
        user = UserFactory()
        _grant(user, role, a)
        for action, (roles, phases) in MATRIX.items():
            if role not in roles or RESIDENT in roles:
                continue
            for phase in phases:
                a.phase = b.phase = phase
                assert allowed(user, action, a), (role, action, phase)
                assert not allowed(user, action, b), (role, action, phase)
                require(user, action, a)
                with pytest.raises(PermissionDenied, match="in this election"):
                    require(user, action, b)


def test_group_membership_still_means_every_election(client):
    a, b = ElectionFactory(phase=Phase.REVIEW), ElectionFactory(phase=Phase.REVIEW)
    user = official()
    assert allowed(user, "proposal.review", a) and allowed(user, "proposal.review", b)
    client.force_login(user)
    for e in (a, b):
        assert client.get(reverse("core:manage", args=[e.slug])).status_code == 200


def test_grant_on_all_elections_and_revoke(client):
    a, b = ElectionFactory(phase=Phase.REVIEW), ElectionFactory(phase=Phase.REVIEW)
    user = UserFactory()
    _grant(user, Role.OFFICIAL)
    assert allowed(user, "proposal.review", a) and allowed(user, "proposal.review", b)
    client.force_login(user)
    assert client.get(reverse("core:manage", args=[b.slug])).status_code == 200
    assert election_role_revoke(actor=None, user=user, role=Role.OFFICIAL) == 1
    assert not allowed(user, "proposal.review", a)
    assert client.get(reverse("core:manage", args=[b.slug])).status_code == 403
    assert [e.action for e in AuditEvent.objects.order_by("seq")] == ["role.grant", "role.revoke"]


def test_council_grant_does_not_make_an_official():
    a = ElectionFactory(phase=Phase.TALLIED)
    user = UserFactory()
    _grant(user, Role.COUNCIL, a)
    assert allowed(user, "tally.certify", a)
    assert not allowed(user, "tally.run", a) and not allowed(user, "tally.signoff", a)
    assert user_roles(user, a) == {Role.COUNCIL} and user_roles(user) == set()


def test_unsaved_election_and_anonymous_get_no_per_election_role():
    a = ElectionFactory(phase=Phase.REVIEW)
    user = UserFactory()
    _grant(user, Role.OFFICIAL, a)
    unsaved = ElectionFactory.build(phase=Phase.REVIEW)
    assert not allowed(user, "proposal.review", unsaved)
    assert not allowed(AnonymousUser(), "proposal.review", a)
    assert not is_official(user) and is_official(user, a)


def test_only_administrators_grant_roles():
    a = ElectionFactory()
    user = UserFactory()
    for actor in (official(), UserFactory()):
        with pytest.raises(PermissionDenied):
            election_role_grant(actor=actor, user=actor, role=Role.OFFICIAL, election=a)
        with pytest.raises(PermissionDenied):
            election_role_revoke(actor=actor, user=user, role=Role.OFFICIAL, election=a)
    admin = UserFactory(is_superuser=True, is_staff=True)
    election_role_grant(actor=admin, user=user, role=Role.OFFICIAL, election=a)
    assert allowed(user, "election.manage", a)
    assert AuditEvent.objects.get(action="role.grant").actor_id == admin.pk


def test_grant_twice_is_one_grant_and_the_database_refuses_duplicates():
    a = ElectionFactory()
    user = UserFactory()
    _grant(user, Role.OFFICIAL, a)
    _grant(user, Role.OFFICIAL, a)
    _grant(user, Role.OFFICIAL)
    _grant(user, Role.OFFICIAL)
    assert ElectionRole.objects.filter(user=user).count() == 2
    assert AuditEvent.objects.filter(action="role.grant").count() == 2
    for election in (a, None):
        with pytest.raises(IntegrityError), transaction.atomic():
            ElectionRole.objects.create(user=user, role=Role.OFFICIAL, election=election)
    with pytest.raises(IntegrityError), transaction.atomic():
        ElectionRole.objects.create(user=user, role="superuser", election=a)


def test_unknown_role_is_refused_by_the_service():
    from pb.core.exceptions import DomainError

    with pytest.raises(DomainError, match="is not a role"):
        _grant(UserFactory(), "admin", ElectionFactory())


def test_grant_role_command():
    a = ElectionFactory(slug="cmd-a", phase=Phase.REVIEW)
    b = ElectionFactory(slug="cmd-b", phase=Phase.REVIEW)
    user = UserFactory(username="clerk")
    out = io.StringIO()
    call_command("grant_role", "clerk", "official", "--election", "cmd-a", stdout=out)
    assert "clerk: official on election cmd-a" in out.getvalue()
    user = type(user).objects.get(pk=user.pk)
    assert allowed(user, "proposal.review", a) and not allowed(user, "proposal.review", b)
    event = AuditEvent.objects.get(action="role.grant")
    assert event.actor_name == "system" and event.election_id == a.pk
    assert event.data == {"user": "clerk", "role": "official", "election": "cmd-a"}
    call_command("grant_role", "clerk", "council", stdout=out)
    user = type(user).objects.get(pk=user.pk)
    assert allowed(user, "tally.certify", ElectionFactory.build(phase=Phase.TALLIED, pk=b.pk))
    call_command("grant_role", "clerk", "official", "--election", "cmd-a", "--revoke", stdout=out)
    user = type(user).objects.get(pk=user.pk)
    assert not allowed(user, "proposal.review", a)
    for args, message in [
        (("nobody", "official"), "no user"),
        (("clerk", "mayor"), "is not a role"),
        (("clerk", "official", "--election", "no-such"), "no election"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("grant_role", *args, stdout=out)


def test_navigation_flag_but_no_rights_elsewhere(client):
    """The menu may show an official link to someone with a grant anywhere; the pages still check."""
    a, b = ElectionFactory(phase=Phase.REVIEW), ElectionFactory(phase=Phase.REVIEW)
    user = UserFactory()
    _grant(user, Role.OFFICIAL, a)
    client.force_login(user)
    r = client.get(reverse("core:election", args=[b.slug]))
    assert r.context["is_official"] is True and r.context["can_manage"] is False
    r = client.get(reverse("core:election", args=[a.slug]))
    assert r.context["can_manage"] is True


def test_draft_proposal_visible_to_officials_of_its_election_only(client):
    a = ElectionFactory(phase=Phase.PROPOSALS_OPEN)
    pot = PotFactory(election=a)
    ProposalFactory(pot=pot, code="P009", status="draft")
    url = reverse("proposals:detail", args=[a.slug, "P009"])
    other = UserFactory()
    _grant(other, Role.OFFICIAL, ElectionFactory())
    client.force_login(other)
    assert client.get(url).status_code == 404
    mine = UserFactory()
    _grant(mine, Role.OFFICIAL, a)
    client.force_login(mine)
    assert client.get(url).status_code == 200


def test_admin_grants_through_the_service_and_only_for_superusers(client):
    from django.contrib.auth.models import Permission

    a = ElectionFactory(phase=Phase.REVIEW)
    target = UserFactory(username="newclerk")
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    add = reverse("admin:core_electionrole_add")
    r = client.post(add, {"user": target.pk, "role": "official", "election": a.pk})
    assert r.status_code == 302, r.content.decode()[:2000]
    grant = ElectionRole.objects.get(user=target)
    event = AuditEvent.objects.get(action="role.grant")
    assert event.actor_id == admin.pk and event.data["election"] == a.slug
    # The same grant again: a form error, not a 500 and not a second row.
    again = client.post(add, {"user": target.pk, "role": "official", "election": a.pk})
    assert again.status_code == 200 and ElectionRole.objects.filter(user=target).count() == 1
    r = client.post(reverse("admin:core_electionrole_delete", args=[grant.pk]), {"post": "yes"})
    assert r.status_code == 302 and not ElectionRole.objects.exists()
    assert AuditEvent.objects.filter(action="role.revoke").exists()
    # Staff with the model's permissions but not superuser: no add page, nothing granted.
    staff = UserFactory(username="staffer", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="electionrole"))
    client.force_login(staff)
    assert client.get(add).status_code == 403
    assert client.post(add, {"user": staff.pk, "role": "official", "election": ""}).status_code == 403
    assert not ElectionRole.objects.exists()


def _race(fn, n=2):
    """Run fn(i) in n threads started together; returns results or exceptions."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i):
        try:
            barrier.wait()
            out[i] = fn(i)
        except Exception as exc:  # collected for the assertions
            out[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_grants_make_one_grant_and_one_audit_entry():
    a = ElectionFactory()
    user = UserFactory()
    for election in (a, None):
        results = _race(
            lambda _i, e=election: _grant(type(user).objects.get(pk=user.pk), Role.OFFICIAL, e), n=4
        )
        assert all(isinstance(r, ElectionRole) for r in results), results
        assert len({r.pk for r in results}) == 1
    assert ElectionRole.objects.filter(user=user).count() == 2
    assert AuditEvent.objects.filter(action="role.grant").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_mailmerge_downloads_give_the_file_once(settings, tmp_path):
    from ballots.roll.codes import codes_generate, codes_mailmerge_take, codes_mailmerge_write

    settings.PB_VAR_DIR = tmp_path
    e = ElectionFactory(phase=Phase.REVIEW)
    pot = PotFactory(election=e, slug="north")
    for i in range(3):
        make_voter(e, pot, ref=f"N-{i}")
    off = official()
    sheets = codes_generate(actor=off, election=e, district=pot, batch="b1")
    f = codes_mailmerge_write(actor=off, election=e, sheets=sheets, batch="b1")
    results = _race(
        lambda _i: codes_mailmerge_take(actor=type(off).objects.get(pk=off.pk), election=e, name=f.name), n=4
    )
    got = [r for r in results if isinstance(r, bytes)]
    assert len(got) == 1 and got[0].count(b"\n") == 4, results
    assert all("already downloaded" in str(r) for r in results if not isinstance(r, bytes))
    assert AuditEvent.objects.filter(action="codes.mailmerge_download").count() == 1


def test_roles_are_read_in_one_query_per_user_object(django_assert_num_queries):
    a, b = ElectionFactory(), ElectionFactory()
    user = official()  # group: all elections
    _grant(user, Role.COUNCIL, a)
    user = type(user).objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert user_roles(user, a) == {Role.OFFICIAL, Role.COUNCIL}
        assert user_roles(user, b) == {Role.OFFICIAL}
        assert user_roles(user) == {Role.OFFICIAL}
    resident = type(user).objects.get(pk=UserFactory().pk)
    a.phase = Phase.PROPOSALS_OPEN
    with django_assert_num_queries(0):  # a right every signed-in user has needs no read of their roles
        assert allowed(resident, "proposal.submit", a)
