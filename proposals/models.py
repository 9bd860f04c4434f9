"""Resident proposals; a proposal reviewed as feasible is a project on the ballot."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from pb.core.i18n import localized
from pb.core.jobprogress import ProgressFiles
from pb.core.jobs.imports import FileImportJob
from pb.core.models import Category, Election, Pot


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    FEASIBLE = "feasible", _("Feasible")
    NOT_FEASIBLE = "not_feasible", _("Not feasible")
    MERGED = "merged", _("Merged into another proposal")
    # Left behind by the supports phase: too few supports to go on to review (proposals.supports).
    NOT_SELECTED = "not_selected", _("Not enough support")


class Proposal(models.Model):
    election = models.ForeignKey(Election, on_delete=models.PROTECT, related_name="proposals")
    pot = models.ForeignKey(Pot, on_delete=models.PROTECT, related_name="proposals")
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="proposals", null=True, blank=True
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="proposals",
    )
    # Public, stable project id (e.g. "P017"): used on ballots and in exported .pb files.
    code = models.CharField(_("project id"), max_length=20)
    title = models.CharField(_("title"), max_length=140)
    description = models.TextField(_("description"), max_length=5000)
    language = models.CharField(_("language"), max_length=10, default="en")
    # Official translations of the title and description, for display only ({"vi": "...", ...}; the
    # frozen definition and the count use the original).
    title_i18n = models.JSONField(_("translated titles"), default=dict, blank=True)
    description_i18n = models.JSONField(_("translated descriptions"), default=dict, blank=True)
    cost = models.PositiveBigIntegerField(
        _("estimated cost"), validators=[MinValueValidator(1), MaxValueValidator(10**12)]
    )
    adjusted_cost = models.PositiveBigIntegerField(_("adjusted cost"), null=True, blank=True)
    cost_note = models.CharField(_("cost note"), max_length=500, blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    image = models.ImageField(_("image"), upload_to="proposals/", blank=True)
    # A small copy for list cards and ballot entries, made when the picture is uploaded (proposals.images).
    image_thumb = models.ImageField(_("thumbnail"), upload_to="proposals/thumbs/", blank=True)
    image_alt = models.CharField(_("image description"), max_length=250, blank=True)
    # Title, description, location and code folded for search (no case, accents or diacritics: "đèn" ->
    # "den"); written by the services with proposals.search.fold: the same on SQLite and PostgreSQL.
    search_text = models.TextField(blank=True, default="", editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=ProposalStatus, default=ProposalStatus.DRAFT
    )
    review_reason = models.TextField(_("public reason"), blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_from"
    )
    # What the supports phase decided, with its figures (proposals.supports.services.supports_decide):
    # {"advanced": bool, "supports": n, "rule": "threshold" | "top_n" | "none", and per rule
    # "threshold", or "top_n", "rank" and "cutoff" (the supports of the last proposal that went on)}.
    supports_decision = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["election", "code"], name="proposal_code_unique"),
            models.CheckConstraint(condition=models.Q(cost__gt=0), name="proposal_cost_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def local_title(self) -> str:
        """The title in the active language (the original where there is no translation)."""
        return localized(self.title, self.title_i18n)

    @property
    def local_description(self) -> str:
        return localized(self.description, self.description_i18n)

    @property
    def final_cost(self) -> int:
        return self.adjusted_cost if self.adjusted_cost is not None else self.cost


class ProposalImportJob(FileImportJob):
    """One upload of a proposal list (CSV/XLSX): a background check (the preview, with every row's outcome),
    then, once an official confirms, a background import, all or nothing.

    The file is kept in PB_VAR_DIR/imports between upload and import and deleted once the job is done (or
    its rows are invalid); a failed job keeps it so that it can be retried. The fields, statuses and job steps
    it shares with the voter-roll import are in pb.core.jobs.imports.
    """

    progress = ProgressFiles("imports")

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="proposal_imports")
    file_format = models.CharField(max_length=4)
    # The preview: {"file_errors": [...], "rows": [{"number", "code", "title", "errors"}, ...]}.
    report = models.JSONField(default=dict, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    # Why a failed job failed, in words an official can act on.
    reason = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"proposal import {self.filename} ({self.status})"

    def failure_fields(self, reason: str) -> dict:
        return {"reason": reason}

    def retry_fields(self) -> dict:
        return {"reason": "", "report": {}, "summary": ""}


# Supports (the optional supports phase) live in their own sub-package; named here so Django finds them.
# Comments and follows live in sub-packages but belong to this app's migrations.
from proposals.comments.models import Comment, CommentReport  # noqa: E402, F401
from proposals.follows.models import Follow  # noqa: E402, F401
from proposals.supports.models import Support, SupportDistrict  # noqa: E402, F401
