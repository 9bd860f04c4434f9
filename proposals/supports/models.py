"""A resident's support for a submitted proposal, during the election's supports phase.

One support per resident and proposal (a unique constraint: a double click or two tabs cannot count twice).
A resident supports proposals of one district pot of the election (the first they support in; citywide pots
are open to everyone), as on the ballot, where a voter votes in their own district and citywide.
"""

from django.conf import settings
from django.db import models

from pb.core.models import Election, Pot


class Support(models.Model):
    proposal = models.ForeignKey("proposals.Proposal", on_delete=models.CASCADE, related_name="supports")
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    # A deleted account's supports go with it (they were never a public act of a named person).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supports")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["proposal", "user"], name="support_once_per_resident")]
        indexes = [models.Index(fields=["election", "user"], name="support_by_resident")]

    def __str__(self) -> str:
        return f"support {self.pk}"


class SupportDistrict(models.Model):
    """The district pot a resident supports in, fixed by their first support of a district proposal."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    pot = models.ForeignKey(Pot, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["election", "user"], name="support_district_once_per_resident")
        ]

    def __str__(self) -> str:
        return f"support district {self.pk}"
