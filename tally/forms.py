from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tally.engine import registry


def rule_choices(pots: list[tuple[str, str]] | None = None):
    """The counting rules, "id - description". With the election's pots as (name, vote type), only the rules
    that can count at least one of them, each saying which pots it cannot count."""
    choices = []
    for r in sorted(registry.load_all().values(), key=lambda r: r.id):
        label = f"{r.id} - {r.description}"
        if pots:
            cannot = [name for name, vote_type in pots if vote_type not in r.vote_types]
            if len(cannot) == len(pots):
                continue
            if cannot:
                label += " " + gettext("(cannot count: %(pots)s)") % {"pots": ", ".join(cannot)}
        choices.append((r.id, label))
    return choices


def rules_per_pot(pots: list[tuple[str, str]]) -> list[dict]:
    """Per pot, the ids of the rules that can count its ballots (from each rule's vote types)."""
    rules = sorted(registry.load_all().values(), key=lambda r: r.id)
    return [
        {"pot": name, "rules": [r.id for r in rules if vote_type in r.vote_types]} for name, vote_type in pots
    ]


class WhatIfForm(forms.Form):
    rule = forms.ChoiceField(label=_("Counting rule"), choices=())

    def __init__(self, *args, pots: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = rule_choices(pots)
        self.per_pot = rules_per_pot(pots or [])


class SignOffUploadForm(forms.Form):
    result = forms.FileField(
        label=_("Result of your offline count (JSON)"),
        help_text=_(
            'One JSON object with one entry per pot: {"<pot slug>": <the output of python -m tally run '
            "ballots-<pot slug>.pb --json>, ...}, as the commands above build it."
        ),
    )

    def clean_result(self):
        from tally.signoff import SIGNOFF_UPLOAD_MAX_BYTES

        f = self.cleaned_data["result"]
        if f.size > SIGNOFF_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(_("The file is too large to be the result of an offline count."))
        return f


class SignOffWithdrawForm(forms.Form):
    signoff = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(
        label=_("Why do you withdraw your sign-off?"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept in the public audit log, with your name."),
    )


class MultiFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultiFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


# The public verifier re-counts whatever it is given: the upload is capped (settings.PB_VERIFY_MAX_BYTES, also
# enforced from CONTENT_LENGTH before the body is read) so it cannot be used to load the server.


class VerifyForm(forms.Form):
    pdf = forms.FileField(label=_("Result PDF"))
    files = MultiFileField(
        label=_(
            "Published files (optional): ballots-*.pb, ballots-*.jsonl, log.jsonl, receipts.txt, audit.jsonl"
        ),
        required=False,
    )

    def clean(self):
        data = super().clean()
        total = sum(f.size for f in [data.get("pdf"), *(data.get("files") or [])] if f is not None)
        limit = settings.PB_VERIFY_MAX_BYTES
        if total > limit:
            raise forms.ValidationError(
                _("The files are too large to verify here (%(mb)s MB at most): use python -m tally verify.")
                % {"mb": limit // (1024 * 1024)}
            )
        return data


class ReceiptForm(forms.Form):
    receipt = forms.CharField(label=_("Your receipt code"), max_length=40)

    def clean_receipt(self):
        """A receipt code has 16 letters and digits (look-alikes such as O for 0 are accepted): say so when
        what was typed cannot be one, rather than searching for it and answering "not found"."""
        from ballots.ballotbox.receipts import ALPHABET, GROUP_LEN, GROUPS, receipt_normalize

        value = self.cleaned_data["receipt"]
        code = receipt_normalize(value)
        if len(code) != GROUPS * GROUP_LEN or any(ch not in ALPHABET for ch in code):
            raise forms.ValidationError(
                _(
                    "This is not a receipt code: a receipt code has %(n)s letters and digits in groups of "
                    "%(k)s, like 7K2M-Q9TX-4RBD-H3WC. Check what you copied from your receipt."
                )
                % {"n": GROUPS * GROUP_LEN, "k": GROUP_LEN}
            )
        return value
