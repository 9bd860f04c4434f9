"""Officials' forms for a funded project's tracking (messages mirror tally.tracking.services)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from tally.tracking.models import TrackingStatus


class TrackingForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=TrackingStatus.choices)
    progress = forms.IntegerField(label=_("Progress (%)"), min_value=0, max_value=100)
    department = forms.CharField(label=_("Responsible department"), max_length=200, required=False)
    actual_spend = forms.IntegerField(
        label=_("Amount spent so far"), min_value=0, max_value=10**15, required=False
    )
    spend_note = forms.CharField(
        label=_("Why the spend differs from the voted cost"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    cancel_reason = forms.CharField(
        label=_("Reason for cancelling"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class MilestoneForm(forms.Form):
    title = forms.CharField(label=_("Milestone"), max_length=200)
    due = forms.DateField(
        label=_("Due (YYYY-MM-DD)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    done_on = forms.DateField(
        label=_("Reached on (YYYY-MM-DD)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class UpdateForm(forms.Form):
    text = forms.CharField(label=_("Update"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    photo = forms.ImageField(label=_("Photo (JPEG, PNG or WebP)"), required=False)
    photo_alt = forms.CharField(
        label=_("What the photo shows (for people who cannot see it)"), max_length=300, required=False
    )
