"""Forms of the voting reminders: the voter's address, and the officials' plan."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ballots.reminders.services import EMAIL_MAX, reminder_state
from ballots.roll import identity
from pb.core.models import Election


class ReminderForm(forms.Form):
    # A plain text field: the service checks the address and says what is wrong (one message for the form
    # page and for anything posted by hand).
    email = forms.CharField(
        label=_("Your e-mail address"),
        max_length=EMAIL_MAX,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={"required": _("Enter your e-mail address.")},
    )


class ReminderPlanForm(forms.Form):
    closes_at = forms.DateTimeField(
        label=_("Voting closes at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("As announced to residents; in the site's time zone."),
    )
    hours_before = forms.IntegerField(
        label=_("Send the reminders this many hours before"), min_value=1, max_value=24 * 14
    )


def reminder_form_context(request, election: Election, voter, form: ReminderForm | None = None) -> dict:
    """What the reminder form needs (the pots page includes it): the voter's reminder, if any, and the form
    prefilled with the signed-in resident's address."""
    asked, sent = reminder_state(voter)
    if form is None:
        email = request.user.email if request.user.is_authenticated else ""
        form = ReminderForm(initial={"email": email})
    return {
        "election": election,
        "reminder_form": form,
        "reminder_asked": asked,
        "reminder_sent": sent,
        "reminder_at_booth": identity.current_method(request, election) == "booth",
    }
