"""Who follows which proposal (authors follow their own from the start)."""

from django.conf import settings
from django.db import models


class Follow(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    proposal = models.ForeignKey("proposals.Proposal", on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "proposal"], name="follow_once")]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.proposal_id}"
