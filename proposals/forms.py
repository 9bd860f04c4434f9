from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from pb.core.i18n import content_languages
from pb.core.models import Category, Election, Pot
from proposals.models import Proposal, ProposalStatus
from proposals.services import EDITABLE_FIELDS, MAX_COST
from proposals.validators import validate_image

PUBLIC_STATUSES = [
    (s.value, s.label)
    for s in (
        ProposalStatus.SUBMITTED,
        ProposalStatus.FEASIBLE,
        ProposalStatus.NOT_FEASIBLE,
        ProposalStatus.MERGED,
    )
]
# A text box with a numeric keypad rather than <input type=number>: a browser silently empties a number box
# holding "5,000" or "abc", and the resident would be told the cost is "required" instead of what is wrong.
MONEY_WIDGET_ATTRS = {"inputmode": "numeric", "autocomplete": "off"}
COST_ERRORS = {
    "invalid": _("Enter the cost as a whole number, without decimals or currency signs."),
    "min_value": _("The cost must be a positive whole number."),
    "max_value": _("The cost is unrealistically large."),
}


def _coordinate_field(label, limit: int) -> forms.DecimalField:
    """Optional degrees in [-limit, limit], typed as text with a decimal keypad (matches the model)."""
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(-limit), MaxValueValidator(limit)],
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class ProposalForm(forms.ModelForm):
    cost = forms.IntegerField(
        label=_("Estimated cost"),
        min_value=1,
        max_value=MAX_COST,
        error_messages=COST_ERRORS,
        help_text=_("In whole currency units."),
        widget=forms.TextInput(attrs=MONEY_WIDGET_ATTRS),
    )
    latitude = _coordinate_field(_("Latitude (optional)"), 90)
    longitude = _coordinate_field(_("Longitude (optional)"), 180)
    image = forms.FileField(
        label=_("Image (optional)"),
        required=False,
        help_text=_("JPEG, PNG or WebP, at most 5 MB."),
        validators=[validate_image],
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    image_alt = forms.CharField(
        label=_("What the picture shows"),
        required=False,
        max_length=250,
        help_text=_(
            "Required with a picture: a short description for people who cannot see it, "
            "for example “The broken bench by the pond”."
        ),
    )

    class Meta:
        model = Proposal
        fields = list(EDITABLE_FIELDS)  # what an author may change (proposals.services)
        labels = {
            "title": _("Title"),
            "description": _("Description"),
            "pot": _("District"),
            "category": _("Category"),
            "location": _("Location (address or place)"),
        }
        help_texts = {
            "title": _("At most 140 characters."),
            "description": _("What should be done, where, and who benefits. At most 5000 characters."),
        }

    def __init__(self, *args, election: Election, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pot"].queryset = Pot.objects.filter(election=election)
        self.fields["pot"].label_from_instance = lambda obj: obj.local_name
        self.fields["pot"].empty_label = _("Choose a district")
        self.fields["category"].queryset = Category.objects.filter(election=election)
        self.fields["category"].label_from_instance = lambda obj: obj.local_name
        self.fields["category"].empty_label = _("Choose a category")
        self.fields["category"].required = True
        self.fields["description"].widget.attrs["maxlength"] = 5000
        self.fields["cost"].help_text = _(
            "In whole %(currency)s, without decimals or spaces, for example 25000."
        ) % {"currency": election.currency}

    def clean(self):
        data = super().clean()
        has_image = bool(data.get("image")) or bool(self.instance.image)
        if has_image and not (data.get("image_alt") or "").strip():
            self.add_error(
                "image_alt", _("Describe the picture in a few words for people who cannot see it.")
            )
        return data

    def _post_clean(self):
        # Model validation happens in the service (proposal_create/update): it is the authority.
        pass


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("feasible", _("Feasible: goes on the ballot")), ("not_feasible", _("Not feasible"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Public reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required when not feasible. Shown on the proposal page."),
    )
    adjusted_cost = forms.IntegerField(
        label=_("Adjusted cost (optional)"),
        required=False,
        min_value=1,
        max_value=MAX_COST,
        error_messages=COST_ERRORS,
        widget=forms.TextInput(attrs=MONEY_WIDGET_ATTRS),
    )
    cost_note = forms.CharField(
        label=_("Note on the adjusted cost"),
        required=False,
        max_length=500,
        help_text=_("Required when the cost is adjusted."),
    )


class TranslateForm(forms.Form):
    """The title and description in each language but the proposal's own ("title-vi", "description-vi")."""

    def __init__(self, *args, proposal: Proposal, **kwargs):
        super().__init__(*args, **kwargs)
        self.languages = content_languages(besides=proposal.language)
        for code, label in self.languages:
            self.fields[f"title-{code}"] = forms.CharField(
                label=_("Title in %(language)s") % {"language": label},
                max_length=140,
                required=False,
                initial=(proposal.title_i18n or {}).get(code, ""),
                widget=forms.TextInput(attrs={"lang": code}),
            )
            self.fields[f"description-{code}"] = forms.CharField(
                label=_("Description in %(language)s") % {"language": label},
                max_length=5000,
                required=False,
                initial=(proposal.description_i18n or {}).get(code, ""),
                widget=forms.Textarea(attrs={"lang": code, "rows": 5}),
            )

    def texts(self, field: str) -> dict[str, str]:
        return {code: self.cleaned_data.get(f"{field}-{code}", "") for code, _label in self.languages}


class MergeForm(forms.Form):
    keep = forms.CharField(
        label=_("Keep proposal (project id)"), max_length=20, help_text=_("For example P012.")
    )
    reason = forms.CharField(label=_("Public note (optional)"), required=False, max_length=2000)


class FilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    pot = forms.ModelChoiceField(
        label=_("District"),
        required=False,
        queryset=Pot.objects.none(),
        to_field_name="slug",
        empty_label=_("All"),
    )
    category = forms.ModelChoiceField(
        label=_("Category"),
        required=False,
        queryset=Category.objects.none(),
        to_field_name="slug",
        empty_label=_("All"),
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("All")), *PUBLIC_STATUSES])
    cost_min = forms.IntegerField(
        label=_("Cost from"),
        required=False,
        min_value=0,
        max_value=MAX_COST,
        widget=forms.TextInput(attrs=MONEY_WIDGET_ATTRS),
    )
    cost_max = forms.IntegerField(
        label=_("Cost up to"),
        required=False,
        min_value=0,
        max_value=MAX_COST,
        widget=forms.TextInput(attrs=MONEY_WIDGET_ATTRS),
    )
    funded = forms.BooleanField(label=_("Funded projects only"), required=False)

    def __init__(self, *args, election: Election, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pot"].queryset = Pot.objects.filter(election=election)
        self.fields["pot"].label_from_instance = lambda obj: obj.local_name
        self.fields["category"].queryset = Category.objects.filter(election=election)
        self.fields["category"].label_from_instance = lambda obj: obj.local_name
        self.fields["q"].widget.attrs.update({"type": "search", "autocomplete": "off"})
        self.fields["q"].widget.input_type = "search"

    def clean(self):
        data = super().clean()
        lo, hi = data.get("cost_min"), data.get("cost_max")
        if lo is not None and hi is not None and lo > hi:
            self.add_error("cost_max", _("“Cost up to” must not be below “Cost from”."))
        return data


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_(
            "Columns: title, description, pot, category, cost, location (and optionally latitude, "
            "longitude, language, status, review_reason, adjusted_cost, cost_note, code)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )

    def __init__(self, *args, **kwargs):
        from django.conf import settings

        from proposals.importing.resources import MAX_ROWS

        super().__init__(*args, **kwargs)
        limits = _("At most %(mb)s MB and %(rows)s rows: split a longer list into several files.") % {
            "mb": settings.PB_PROPOSAL_IMPORT_MAX_BYTES // (1024 * 1024),
            "rows": MAX_ROWS,
        }
        self.fields["file"].help_text = f"{self.fields['file'].help_text} {limits}"
