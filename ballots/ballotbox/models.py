"""The public ballot log: its head and its sealed batches (written by ballots.ballotbox.sealing)."""

from django.db import models

from pb.core.models import Election


class BallotLog(models.Model):
    """Head of an election's public ballot log. Its row is locked by every seal so the chain never forks."""

    election = models.OneToOneField(Election, on_delete=models.PROTECT, related_name="ballot_log")
    seq = models.PositiveIntegerField(default=0)
    head = models.CharField(max_length=64)
    ballots = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "tally_ballotlog"  # created when the ballot box lived in tally; kept, no copy needed

    def __str__(self) -> str:
        return f"ballot log #{self.seq} {self.head[:12]}"


class LogBatch(models.Model):
    """One sealed batch. Ballot hashes in a random order, receipts sorted: the two lists do not line up.
    No time is stored: a batch's position in the chain is all observers need."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="log_batches")
    seq = models.PositiveIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    ballot_hashes = models.JSONField()
    receipts = models.JSONField()

    class Meta:
        db_table = "tally_logbatch"  # created when the ballot box lived in tally; kept, no copy needed
        ordering = ["election", "seq"]
        constraints = [models.UniqueConstraint(fields=["election", "seq"], name="log_batch_seq_unique")]

    def __str__(self) -> str:
        return f"batch {self.seq}"
