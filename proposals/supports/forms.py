"""The supports phase settings form (officials). Messages mirror the service's."""

from django import forms
from django.utils.translation import gettext_lazy as _

from pb.core.models import Election

RULES = [
    ("none", _("Every submitted proposal goes on to review")),
    ("threshold", _("Proposals with at least this many supports go on")),
    ("top_n", _("This many of the most supported proposals of each district go on")),
]


class SupportsForm(forms.Form):
    enabled = forms.BooleanField(label=_("Hold a supports phase before review"), required=False)
    per_resident = forms.IntegerField(
        label=_("Supports per resident (empty: no limit)"), required=False, min_value=1, max_value=1_000_000
    )
    rule = forms.ChoiceField(label=_("What goes on to review"), choices=RULES, widget=forms.RadioSelect)
    number = forms.IntegerField(
        label=_("Number of supports, or of proposals per district"),
        required=False,
        min_value=1,
        max_value=1_000_000,
    )

    def __init__(self, *args, election: Election, **kwargs):
        rule = "threshold" if election.supports_threshold else "top_n" if election.supports_top_n else "none"
        initial = {
            "enabled": election.supports_enabled,
            "per_resident": election.supports_per_resident,
            "rule": rule,
            "number": election.supports_threshold or election.supports_top_n,
        }
        super().__init__(*args, initial=initial, **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("rule") in ("threshold", "top_n") and not data.get("number"):
            self.add_error("number", _("Give the number for this rule."))
        return data

    def rules(self) -> dict:
        data = self.cleaned_data
        rule, number = data["rule"], data.get("number")
        return {
            "enabled": data["enabled"],
            "per_resident": data.get("per_resident"),
            "threshold": number if rule == "threshold" else None,
            "top_n": number if rule == "top_n" else None,
        }
