"""Elections (PB editions), their pots and categories, and the hash-chained audit log.

Money is an integer number of whole currency units (PB budgets and Pabulib files use whole units).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pb.core.i18n import localized


class Phase(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PROPOSALS_OPEN = "proposals_open", _("Proposals open")
    # Optional (Election.supports_enabled): residents support submitted proposals; the election's rule
    # (threshold or top N per pot) decides which go on to review. Skipped when the election has none.
    SUPPORTS = "supports", _("Supports")
    REVIEW = "review", _("Review")
    VOTING_OPEN = "voting_open", _("Voting open")
    VOTING_CLOSED = "voting_closed", _("Voting closed")
    TALLIED = "tallied", _("Tallied")
    CERTIFIED = "certified", _("Certified")
    PUBLISHED = "published", _("Published")


# The only order phases may take; each change moves exactly one step forward (the supports phase is left
# out of elections that have none: pb.core.services.next_phase).
PHASE_ORDER: tuple[str, ...] = tuple(p.value for p in Phase)


class BallotType(models.TextChoices):
    KNAPSACK = "knapsack", _("Knapsack (choose projects within the budget)")
    APPROVAL = "approval", _("Approval (choose between a minimum and maximum number)")
    RANKED = "ranked", _("Ranked (order up to k projects)")
    POINTS = "points", _("Points (distribute points)")


class Role(models.TextChoices):
    """An official's or council member's role: granted on one election or on all (`ElectionRole`); membership
    of the Django group of the same name counts as a grant on all elections. A resident is any signed-in
    user."""

    OFFICIAL = "official", _("Election official")
    COUNCIL = "council", _("Council")


class Election(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.TextField(_("description"), blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    currency = models.CharField(_("currency"), max_length=8, default="EUR")
    phase = models.CharField(_("phase"), max_length=20, choices=Phase, default=Phase.DRAFT)
    # Eligibility: minimum age on a reference date (None: no age limit).
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    age_reference_date = models.DateField(_("age reference date"), null=True, blank=True)
    # Counting: a rule id of tally.engine's registry and the declared tie-break.
    rule = models.CharField(_("counting rule"), max_length=60, default="greedy")
    tie_break = models.CharField(_("tie-break"), max_length=200, default="cost,score,order")
    tie_break_seed = models.CharField(_("tie-break seed"), max_length=120, blank=True)
    # (db_default on the booleans: rows inserted by code of an older migration state still insert.)
    # Projects nobody voted for: never funded (the default: no resident asked for them, docs/rules.md), or
    # funded from money left once the rule has finished. Frozen into the definition's counting options.
    fund_unsupported = models.BooleanField(
        _("fund projects nobody voted for when money is left"), default=False, db_default=False
    )
    # The supports phase (optional) and its rules, fixed before it starts (election.edit: draft and proposals
    # open only): how many proposals one resident may support, and which proposals go on to review — those
    # with at least `supports_threshold` supports, or the `supports_top_n` most supported of each pot (all
    # proposals tied with the last one go on too). Neither set: every submitted proposal goes on.
    supports_enabled = models.BooleanField(_("supports phase"), default=False, db_default=False)
    supports_per_resident = models.PositiveSmallIntegerField(
        _("supports per resident"), null=True, blank=True
    )
    supports_threshold = models.PositiveIntegerField(_("supports needed"), null=True, blank=True)
    supports_top_n = models.PositiveSmallIntegerField(_("most supported per pot"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Raised after every committed save or deletion of one of its pots or proposals (pb.core.content): what
    # a page caches of them (the ballot, the cast's pot context) is keyed or checked by it, so a translated
    # title shows at once in every process.
    content_version = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(phase__in=PHASE_ORDER), name="election_phase_valid"),
            models.CheckConstraint(
                condition=models.Q(supports_threshold__isnull=True) | models.Q(supports_top_n__isnull=True),
                name="election_supports_one_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Pot(models.Model):
    """A district (or the citywide pot) with its own budget and ballot rules."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="pots")
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=80)
    is_citywide = models.BooleanField(_("citywide"), default=False)
    budget = models.PositiveBigIntegerField(_("budget"))
    ballot_type = models.CharField(
        _("ballot type"), max_length=12, choices=BallotType, default=BallotType.KNAPSACK
    )
    min_selections = models.PositiveSmallIntegerField(_("minimum projects"), default=0)
    max_selections = models.PositiveSmallIntegerField(_("maximum projects"), null=True, blank=True)
    points_total = models.PositiveSmallIntegerField(_("points to distribute"), null=True, blank=True)
    points_max_per_project = models.PositiveSmallIntegerField(
        _("maximum points per project"), null=True, blank=True
    )
    min_spend_percent = models.PositiveSmallIntegerField(_("minimum percentage of budget"), default=0)
    # The district's outline for the maps: a GeoJSON FeatureCollection of polygons, written only by
    # pb.core.districts.shapes.pot_shape_set (validated there: size, polygons only, coordinates in range).
    shape = models.JSONField(_("district shape"), null=True, blank=True)
    # Translations of the name, for display only ({"vi": "...", "zh-hans": "..."}; pb.core.i18n).
    name_i18n = models.JSONField(_("translated names"), default=dict, blank=True)

    class Meta:
        ordering = ["-is_citywide", "name"]
        constraints = [
            models.UniqueConstraint(fields=["election", "slug"], name="pot_slug_unique_per_election"),
            models.CheckConstraint(condition=models.Q(budget__gt=0), name="pot_budget_positive"),
            models.CheckConstraint(
                condition=models.Q(min_spend_percent__lte=100), name="pot_min_spend_percent_max_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def local_name(self) -> str:
        """The name in the active language (the original where there is no translation)."""
        return localized(self.name, self.name_i18n)


class Category(models.Model):
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="categories")
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=80)
    name_i18n = models.JSONField(_("translated names"), default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["election", "slug"], name="category_slug_unique_per_election")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def local_name(self) -> str:
        return localized(self.name, self.name_i18n)


class AuditEntryFields(models.Model):
    """What an audit entry says: who did what, when, to what; `private`: for an entry about a voter,
    {"salt", "fields"}, published only as a salted commitment (never the voter, booth, actor or exact time).
    `election` is declared by each entry model (its own reverse name)."""

    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    data = models.JSONField(default=dict, blank=True)
    private = models.JSONField(null=True, blank=True)

    class Meta:
        abstract = True


class AuditPending(AuditEntryFields):
    """An audit entry written without taking the chain's head lock, waiting to be chained.

    For frequent entries about voters (each online identification): appending them to the chain one by one
    would queue every voter of the city on the head row's lock. They are inserted here instead (no lock) and
    moved into the chain in order, as ordinary AuditEvents, by pb.core.audit.audit_fold: before every other
    audit entry, every signed checkpoint, every check of the chain, and now and then by the writers
    themselves (PB_AUDIT_FOLD_EVERY). Written and read only by pb.core.audit."""

    election = models.ForeignKey(
        Election, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_pending"
    )

    def __str__(self) -> str:
        return f"pending {self.action}"


class AuditHead(models.Model):
    """Singleton row locked by every audit write: serialises the chain (see pb.core.audit)."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"


class AuditCheckpoint(models.Model):
    """The audit head (seq, hash) signed with the server's audit key (pb.core.audit_keys) at a phase change,
    at certification and at publication. Written only by pb.core.audit.audit_checkpoint: rewriting, inserting
    or deleting any entry up to a checkpoint, even re-chaining all entries after it, no longer matches it."""

    seq = models.PositiveBigIntegerField()
    head = models.CharField(max_length=64)
    reason = models.CharField(max_length=80)
    election = models.ForeignKey(
        Election, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_checkpoints"
    )
    at = models.DateTimeField()
    public_key = models.CharField(max_length=64)  # raw Ed25519 public key, hex
    key_fingerprint = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["seq", "pk"]

    def __str__(self) -> str:
        return f"audit checkpoint #{self.pk} at seq {self.seq}"


class AuditEvent(AuditEntryFields):
    """One entry of the append-only, hash-chained audit log. Written only by pb.core.audit."""

    seq = models.PositiveBigIntegerField(unique=True)
    election = models.ForeignKey(
        Election, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Payload version (tally.engine.auditlog): 1 = written before the log was anchored, 2 = keyed and with
    # a private part. Kept so old chains still verify.
    v = models.PositiveSmallIntegerField(default=1)
    # HMAC of the hash with a key derived from PB_HMAC_KEY: a rewrite after the last checkpoint needs it.
    mac = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class ElectionRole(models.Model):
    """A role granted to a user on one election (`election`) or on every election (`election` null).

    Written only by pb.core.services.election_role_grant / election_role_revoke (audited). Django groups named
    after a role keep working as a grant on all elections, so existing sites and their officials need no
    migration of data."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="election_roles"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role)
    election = models.ForeignKey(
        Election,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        help_text=_("Empty: the role applies to every election."),
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "role", "election_id"]
        verbose_name = _("election role")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="election_role_valid"
            ),
            # One grant per user, role and election; NULL (all elections) needs its own partial index because
            # NULLs are distinct in a plain unique constraint.
            models.UniqueConstraint(
                fields=["user", "role", "election"],
                condition=models.Q(election__isnull=False),
                name="election_role_unique_per_election",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(election__isnull=True),
                name="election_role_unique_all_elections",
            ),
        ]

    def __str__(self) -> str:
        where = self.election.slug if self.election_id else "*"
        return f"{self.user} {self.role} @ {where}"


ROLE_NAMES = frozenset(r.value for r in Role)


def _load_roles(user) -> None:
    """Read the user's roles once per user object (per request): groups and grants in one query."""
    from django.contrib.auth.models import Group

    groups = (
        Group.objects.filter(user=user.pk, name__in=ROLE_NAMES)
        .annotate(no_election=models.Value(None, output_field=models.BigIntegerField()))
        .order_by()
        .values_list("name", "no_election")
    )
    grants = ElectionRole.objects.filter(user_id=user.pk).order_by().values_list("role", "election_id")
    global_roles: set[str] = set()
    per_election: dict[int, set[str]] = {}
    for role, election_id in grants.union(groups, all=True).order_by():
        if election_id is None:
            global_roles.add(role)
        else:
            per_election.setdefault(election_id, set()).add(role)
    user._pb_roles = frozenset(global_roles)
    user._pb_election_roles = per_election


def user_roles(user: settings.AUTH_USER_MODEL, election: Election | None = None) -> set[str]:  # type: ignore[valid-type]
    """The user's roles on `election`: those granted on all elections (groups, grants without an election)
    plus those granted on this one. Without an election (or an unsaved one): the all-elections roles only."""
    if not getattr(user, "is_authenticated", False):
        return set()
    if getattr(user, "_pb_roles", None) is None:
        _load_roles(user)
    roles = set(user._pb_roles)
    election_id = getattr(election, "pk", None)
    if election_id is not None:
        roles |= (getattr(user, "_pb_election_roles", None) or {}).get(election_id, set())
    return roles


def user_roles_anywhere(user) -> set[str]:
    """Every role the user holds on at least one election (for navigation, never for a permission)."""
    roles = user_roles(user)
    for granted in (getattr(user, "_pb_election_roles", None) or {}).values():
        roles |= granted
    return roles


class Job(models.Model):
    """One long piece of work started from a page (a certification, a sign-off re-count, a publication), run
    by a task worker (pb.core.jobs): what the page polls (status, done / total, phase text), why it failed in
    words an official can act on, and what it produced (`result`, e.g. {"certification": 7})."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    election = models.ForeignKey(
        Election, on_delete=models.CASCADE, null=True, blank=True, related_name="jobs"
    )
    # What may run only once at a time ("tally.certify:<election>", or per official for a sign-off): unique
    # among queued and running jobs, so a double click or two officials at once start one job, not two.
    active_key = models.CharField(max_length=120)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=200, blank=True)
    failure = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    retries = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()  # the last sign of life: a change of status or progress

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "done", "failed"]),
                name="job_status_valid",
            ),
            models.UniqueConstraint(
                fields=["active_key"],
                condition=models.Q(status__in=["queued", "running"]),
                name="job_one_active_per_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        return min(100, (100 * self.done) // self.total) if self.total else 0


# Notifications live in their own sub-package (pb.core.notifications) but belong to this app's migrations.
from pb.core.notifications.models import (  # noqa: E402, F401
    Notification,
    NotificationKind,
    NotificationSettings,
)
