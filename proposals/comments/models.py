"""Residents' comments on proposals (one level of replies), reports of them, and officials' hiding."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

BODY_MAX = 2000
REASON_MAX = 500


class Comment(models.Model):
    proposal = models.ForeignKey("proposals.Proposal", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="proposal_comments"
    )
    # One level of threading: a reply's parent is always a top-level comment (comments.services).
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    body = models.TextField(_("comment"), max_length=BODY_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Hidden by an official: the body is no longer shown, the fact and the public reason are.
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    hidden_reason = models.CharField(_("public reason"), max_length=REASON_MAX, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["proposal", "created_at"], name="comment_proposal_time")]
        constraints = [
            # Hiding always says why, publicly.
            models.CheckConstraint(
                condition=models.Q(hidden_at__isnull=True) | ~models.Q(hidden_reason=""),
                name="comment_hidden_has_reason",
            )
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.proposal_id}"

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class CommentReport(models.Model):
    """Anyone may report a comment; a signed-in person's second report of the same comment adds nothing."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("what is wrong with it"), max_length=REASON_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["comment", "reporter"],
                condition=models.Q(reporter__isnull=False),
                name="comment_report_once_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"report {self.pk} of comment {self.comment_id}"
