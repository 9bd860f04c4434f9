from django.db import models

from pb.core.models import Election


class StatisticsSnapshot(models.Model):
    """The statistics of an election as computed when voting closed (tally.statistics.services): the
    turnout tables already suppressed, so the page reads one row instead of aggregating the participations."""

    election = models.OneToOneField(Election, on_delete=models.CASCADE, related_name="statistics_snapshot")
    data = models.JSONField()
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"statistics of election {self.election_id}"
