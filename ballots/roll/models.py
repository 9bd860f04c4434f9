"""The voter roll (keyed hashes only), its snapshot, voting codes, roll import jobs and identification
throttling. Imported by ballots.models, where Django finds them."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from pb.core.jobprogress import ProgressFiles
from pb.core.jobs.imports import FileImportJob
from pb.core.models import Election, Job, Pot


class VoterRollEntry(models.Model):
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="roll")
    # HMAC(voter reference): the roll-match key. Never the reference in clear.
    ref_hash = models.CharField(max_length=64)
    # HMAC(voter reference + date of birth): checked on roll match, so a leaked DB does not leak birth dates.
    ref_dob_hash = models.CharField(max_length=64)
    # Age eligibility is decided at import against the election's reference date; only the birth year is
    # kept, to explain a refusal ("you must be 16 on 1 June 2026") without storing the full birth date.
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    age_eligible = models.BooleanField(default=True)
    district = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="roll_entries")
    contact_hash = models.CharField(max_length=64, blank=True)
    booth = models.CharField(max_length=80, blank=True)  # assigned polling place for paper voting
    # Raised when the voter leaves a browser ("leave this computer", a booth device given back): every
    # identification made before carries the old value and stops working (ballots.roll.identity). A count,
    # never a time.
    identity_version = models.PositiveIntegerField(default=0, db_default=0)  # db: the roll import's COPY

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["election", "ref_hash"], name="roll_ref_unique_per_election")
        ]

    def __str__(self) -> str:
        return f"roll entry {self.pk}"


class RollSnapshot(models.Model):
    """Frozen when voting opens: count and hash of the roll (sorted entry hashes)."""

    election = models.OneToOneField(Election, on_delete=models.PROTECT, related_name="roll_snapshot")
    entries = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    taken_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"roll snapshot {self.sha256[:12]}"


class CodeStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    USED = "used", _("Used")
    VOID = "void", _("Void")


class VotingCode(models.Model):
    """A one-time voting code; stored only as a hash (HMAC)."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="voting_codes")
    voter = models.ForeignKey(VoterRollEntry, on_delete=models.PROTECT, related_name="codes")
    code_hash = models.CharField(max_length=64, unique=True)
    batch = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=8, choices=CodeStatus, default=CodeStatus.ACTIVE)

    def __str__(self) -> str:
        return f"code {self.pk} ({self.status})"


class CodeLetterBatch(models.Model):
    """A batch of voting-code letters made by a job (pb.core.jobs, ballots.roll.letters) for the official who
    asked for it: what to make, and the public key the finished PDF is sealed to. Never a plaintext code and
    never the private key (ballots.roll.letters says where its two halves are)."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="code_letters")
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="code_letter_batches")
    district = models.ForeignKey(Pot, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    limit = models.PositiveIntegerField()
    by_reference = models.BooleanField(default=False)
    # The official's list of voter references (printed on their letters), sealed with the server key
    # (ballots.roll.letters): the roll keeps references only as keyed hashes. Emptied once the letters exist.
    references_sealed = models.BinaryField(blank=True, default=b"")
    public_key = models.BinaryField(max_length=32)  # X25519, raw
    batch = models.CharField(max_length=40)  # VotingCode.batch of the codes it made
    letters = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)  # set when done: the sealed PDF is kept until
    downloaded_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)  # deleted undownloaded, its codes voided

    def __str__(self) -> str:
        return f"code letters {self.batch}"


class ImportJob(FileImportJob):
    """One upload of a voter-roll file: preview (validation) then confirmed import, with progress.

    The uploaded file is kept in PB_VAR_DIR/roll_uploads only between preview and import and deleted after
    (it holds personal data in clear). The fields, statuses and job steps it shares with the proposal import
    are in pb.core.jobs.imports.
    """

    progress = ProgressFiles("roll_uploads")

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="roll_imports")
    error_count = models.PositiveIntegerField(default=0)
    # The first errors only (row number, column, message); error_count has the full number. A failed job's
    # reason is its one error, on row 0.
    errors = models.JSONField(default=list, blank=True)
    seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"roll import {self.filename} ({self.status})"

    def failure_fields(self, reason: str) -> dict:
        return {"errors": [{"row": 0, "column": "", "message": reason}], "error_count": 1}

    def retry_fields(self) -> dict:
        return {"errors": [], "error_count": 0}


class ThrottleBucket(models.Model):
    """Failed identification attempts per key ("ip:<hmac of IP>" or "space:<election id>:<method>").

    A database row (locked with select_for_update while counting) so the limit holds across processes.
    """

    key = models.CharField(max_length=120, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"throttle {self.key}: {self.failures}"
