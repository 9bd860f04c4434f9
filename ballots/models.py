"""Voter roll, voting codes, participation and ballots.

Secret ballot: `Participation` says WHO voted (voter, pot, channel, day) and `Ballot` says WHAT was voted
(random id, contents, receipt hash). They share no column, no foreign key and no precise time. Ballot ids are
random (uuid4) so insertion order cannot be recovered from ids; list ballots in a shuffled or content order,
never by insertion.

Nor are they written together. A cast writes the participation and a `PendingBallot` (the ballot encrypted
with the server's key, ballots.ballotbox.pending) in one transaction. Sealing
(ballots.ballotbox.sealing.ballots_seal_pending),
in a transaction of its own, decrypts a random selection of one pot's pending ballots (all but K, the
anonymity set, while voting is open), INSERTs them into `Ballot` in shuffled order with their batch number
already set (one transaction id for the whole batch, no later UPDATE leaving old row versions), deletes the
pending rows and VACUUMs their table. So the `Ballot` table holds sealed ballots only, and nothing in it (no
column, transaction id, physical position or dead row version) ties a ballot to a participation; every
reader (count, exports, results, receipts) sees sealed ballots only. docs/secrecy.md says what a database
administrator can still learn, with and without the key.

Personal identifiers of the roll are stored only as keyed hashes (HMAC-SHA256 with settings.PB_HMAC_KEY).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ballots.ballotbox.models import BallotLog, LogBatch
from ballots.reminders.models import BallotReminder, ReminderPlan
from ballots.roll.models import (
    CodeLetterBatch,
    CodeStatus,
    ImportJob,
    RollSnapshot,
    ThrottleBucket,
    VoterRollEntry,
    VotingCode,
)
from pb.core.models import Election, Pot

# The models of the app's domains live in their sub-packages (roll: ballots.roll.models; the ballot box:
# ballots.ballotbox.models; reminders: ballots.reminders.models); they are named here so Django finds them
# and callers import from one place.
__all__ = [
    "Ballot",
    "BallotLog",
    "BallotReminder",
    "Channel",
    "CodeLetterBatch",
    "CodeStatus",
    "DefinitionFreeze",
    "ImportJob",
    "LogBatch",
    "PaperBatch",
    "PaperBatchStatus",
    "PaperEntry",
    "Participation",
    "PendingBallot",
    "ReconciliationChannel",
    "ReconciliationResolution",
    "ReminderPlan",
    "RollSnapshot",
    "ThrottleBucket",
    "VoterRollEntry",
    "VotingCode",
]


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    BOOTH = "booth", _("At a booth, helped by an official")
    PAPER = "paper", _("Paper ballot")


class Participation(models.Model):
    """WHO voted: one per voter and pot (enforced by the database). No time finer than the day."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="participations")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="participations")
    voter = models.ForeignKey(VoterRollEntry, on_delete=models.PROTECT, related_name="participations")
    channel = models.CharField(max_length=8, choices=Channel)
    booth = models.CharField(max_length=80, blank=True)
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["voter", "pot"], name="one_participation_per_voter_and_pot")
        ]

    def __str__(self) -> str:
        return f"participation {self.pk}"


class Ballot(models.Model):
    """WHAT was voted. Deliberately no voter, session, IP, channel-specific person or timestamp column."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="ballots")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="ballots")
    # Project codes, in ballot order (ranked: best first). Points ballots: {"P001": 3, ...} in `points`.
    projects = models.JSONField(default=list)
    points = models.JSONField(default=dict, blank=True)
    is_paper = models.BooleanField(default=False)
    # SHA-256 of the receipt code shown once to the voter: proves inclusion, not content.
    receipt_hash = models.CharField(max_length=64, unique=True)
    # The batch of the public hash chain this ballot was sealed in (tally app). Written with the row, never
    # updated: a ballot exists only once sealed (until then it is a PendingBallot).
    sealed_batch = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"ballot {self.id}"


class PendingBallot(models.Model):
    """A cast ballot not sealed yet: its contents (projects, points, paper or not, receipt hash) only as
    AES-GCM ciphertext under the server key (ballots.ballotbox.pending), padded to a fixed size. No voter, no
    time.
    Deleted (and its table vacuumed) when the ballot is sealed into `Ballot`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="+")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="+")
    content = models.BinaryField()

    class Meta:
        # The cast counts its pot's pending ballots (up to the sealing threshold) through this index.
        indexes = [models.Index(fields=["election", "pot"], name="pending_ballot_pot")]

    def __str__(self) -> str:
        return f"pending ballot {self.id}"


# --- Paper ballots (double entry) ---------------------------------------------------------------------------


class PaperBatchStatus(models.TextChoices):
    OPEN = "open", _("Being entered")
    ACCEPTED = "accepted", _("Accepted")


class PaperBatch(models.Model):
    """A stack of paper ballots from one booth and pot, typed in twice by two different officials.

    Accepting it turns each valid line into a `Ballot` (is_paper) and lists every rejected line with its
    reasons in `rejected`; the batch keeps only counts, so no ballot can be traced back to its batch."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="paper_batches")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="paper_batches")
    booth = models.CharField(_("booth"), max_length=80)
    label = models.CharField(_("batch label"), max_length=40)
    status = models.CharField(max_length=8, choices=PaperBatchStatus, default=PaperBatchStatus.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="paper_batches_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="paper_batches_accepted",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    lines_total = models.PositiveIntegerField(default=0)  # paper ballots in the batch (valid + rejected)
    lines_valid = models.PositiveIntegerField(default=0)
    # [{"line": 3, "text": "P001 P001", "reasons": ["Project P001 is chosen more than once."]}, ...]
    rejected = models.JSONField(default=list, blank=True)
    # When the two entries differed: {"lines": {"4": "a"}, "note": "checked the paper: first entry right"}
    resolution = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["booth", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["election", "pot", "booth", "label"], name="paper_batch_label_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.booth} / {self.label}"


class PaperEntry(models.Model):
    """One official's typing of a whole batch: one paper ballot per line."""

    batch = models.ForeignKey(PaperBatch, on_delete=models.CASCADE, related_name="entries")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="paper_entries"
    )
    text = models.TextField()
    entered_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["entered_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "entered_by"], name="paper_entry_one_per_official")
        ]

    def __str__(self) -> str:
        return f"entry {self.pk} of batch {self.batch_id}"

    @property
    def lines(self) -> list[str]:
        return [ln.strip() for ln in self.text.splitlines() if ln.strip()]


# --- Reconciliation: ballots against participations, per pot, channel and booth -----------------------


class ReconciliationChannel(models.TextChoices):
    # Ballots carry only `is_paper`: every ballot cast on the voting form (online, or at a booth helped by an
    # official) reconciles against the online and booth participations together.
    ONLINE = "online", _("Online (on the voting form, at home or at a booth)")
    PAPER = "paper", _("Paper ballot")


class ReconciliationResolution(models.Model):
    """Two officials explain, in public, a difference between ballots and participations that will not go
    away (a paper voter whose ballot never reached the count, a spoiled ballot...). It changes no ballot: it
    records the numbers it explains, and covers the difference only while the numbers are still those."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="reconciliations")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="reconciliations")
    channel = models.CharField(max_length=8, choices=ReconciliationChannel)
    booth = models.CharField(max_length=80, blank=True)  # "" for the online channel
    participations = models.PositiveIntegerField()
    ballots = models.PositiveIntegerField()
    reason = models.TextField()
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reconciliations_proposed"
    )
    proposed_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliations_confirmed",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Set when the numbers moved on before a confirmation and another proposal replaced this one.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pot__name", "channel", "booth", "proposed_at"]
        constraints = [
            # The rule of the four eyes, in the database too: nobody confirms their own proposal.
            models.CheckConstraint(
                condition=models.Q(confirmed_by__isnull=True)
                | ~models.Q(confirmed_by=models.F("proposed_by")),
                name="reconciliation_two_officials",
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="reconciliation_reason_given"),
            models.CheckConstraint(
                condition=models.Q(channel__in=["online", "paper"]), name="reconciliation_channel_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(participations=models.F("ballots")), name="reconciliation_has_difference"
            ),
            # One open proposal per difference: two officials proposing at once cannot both leave one.
            models.UniqueConstraint(
                fields=["pot", "channel", "booth"],
                condition=models.Q(confirmed_by__isnull=True, withdrawn_at__isnull=True),
                name="reconciliation_one_open_proposal",
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.pk}"

    @property
    def difference(self) -> int:
        return self.ballots - self.participations


class DefinitionFreeze(models.Model):
    """The election definition as frozen when voting opened: canonical JSON, kept byte for byte."""

    election = models.OneToOneField(Election, on_delete=models.PROTECT, related_name="definition_freeze")
    canonical = models.TextField()
    sha256 = models.CharField(max_length=64)
    frozen_at = models.DateTimeField()

    class Meta:
        db_table = "tally_definitionfreeze"  # created when the freeze lived in tally; kept, no copy needed

    def __str__(self) -> str:
        return f"definition {self.sha256[:12]}"
