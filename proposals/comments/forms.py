from django import forms
from django.utils.translation import gettext_lazy as _

from proposals.comments.models import BODY_MAX, REASON_MAX


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Your comment"),
        max_length=BODY_MAX,
        strip=False,  # the service trims and cleans
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Plain text; web addresses become links. You can edit it for 15 minutes."),
    )
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class ReportForm(forms.Form):
    reason = forms.CharField(
        label=_("What is wrong with this comment? (optional)"),
        max_length=REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class HideForm(forms.Form):
    reason = forms.CharField(
        label=_("Public reason for hiding it"),
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown in place of the comment, for everyone to read."),
    )
