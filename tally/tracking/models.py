"""What happens to a funded project after the result is published: its status, progress, milestones, money
spent and public updates (tally.tracking.services writes them; every change audited)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pb.core.models import Election
from proposals.models import Proposal


class TrackingStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DESIGN = "design", _("In design")
    PROCUREMENT = "procurement", _("In procurement")
    CONSTRUCTION = "construction", _("Under construction")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class ProjectTracking(models.Model):
    """One per funded project of a published election (created at publication)."""

    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="tracked_projects")
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="tracking")
    voted_cost = models.PositiveBigIntegerField()  # the cost the ballot showed (adjusted cost if any)
    status = models.CharField(max_length=16, choices=TrackingStatus, default=TrackingStatus.PLANNED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    department = models.CharField(max_length=200, blank=True)
    actual_spend = models.PositiveBigIntegerField(null=True, blank=True)
    spend_note = models.TextField(blank=True)  # why the spend differs from the voted cost
    cancel_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["election", "proposal__code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="tracking_progress_max_100"),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="tracking_cancelled_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"tracking {self.proposal_id}"

    @property
    def spend_difference(self) -> int | None:
        return None if self.actual_spend is None else self.actual_spend - self.voted_cost


class Milestone(models.Model):
    tracking = models.ForeignKey(ProjectTracking, on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(max_length=200)
    due = models.DateField(null=True, blank=True)
    done_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["due", "pk"]

    def __str__(self) -> str:
        return self.title


class TrackingUpdate(models.Model):
    """A public update: text, optionally a photo (re-encoded without metadata) with its alternative text."""

    tracking = models.ForeignKey(ProjectTracking, on_delete=models.CASCADE, related_name="updates")
    text = models.TextField(max_length=5000)
    photo = models.ImageField(upload_to="tracking/", blank=True)
    photo_alt = models.CharField(max_length=300, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(photo="") | ~models.Q(photo_alt=""), name="tracking_update_photo_has_alt"
            )
        ]

    def __str__(self) -> str:
        return f"update {self.pk}"
