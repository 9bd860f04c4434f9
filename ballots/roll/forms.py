"""Forms of the voter roll, voting codes and identification. Validation messages mirror the services'."""

from __future__ import annotations

import csv
import io

from django import forms
from django.utils.translation import gettext_lazy as _

from ballots.roll.entries import header_map
from pb.core.models import Pot

# ISO only, as in the roll file: "03/04/1990" is 3 April or 4 March depending on the reader, and a guess
# would turn into a failed roll match (and a throttle strike) the voter cannot understand. Browsers with a
# date picker send this format anyway; the placeholder shows it where there is none.
DATE_INPUTS = ["%Y-%m-%d"]
DATE_ERROR = _("Write the date of birth as YYYY-MM-DD, e.g. 1990-04-03 for 3 April 1990.")
DATE_ATTRS = {"type": "date", "placeholder": "YYYY-MM-DD"}


class CodeIdentifyForm(forms.Form):
    code = forms.CharField(
        label=_("Voting code"),
        max_length=40,
        help_text=_("The 12 letters and digits on your letter, e.g. 7K2M-QX9D-B4TN."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class RollIdentifyForm(forms.Form):
    reference = forms.CharField(
        label=_("Voter reference"),
        max_length=64,
        help_text=_("As printed on your registration (e.g. your resident number)."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        input_formats=DATE_INPUTS,
        help_text=_("As on your identity document."),
        widget=forms.DateInput(attrs=DATE_ATTRS, format="%Y-%m-%d"),
        error_messages={"invalid": DATE_ERROR},
    )


class BoothIdentifyForm(RollIdentifyForm):
    reference = forms.CharField(
        label=_("Voter reference"),
        max_length=64,
        help_text=_("As on the resident's registration or voting letter."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        input_formats=DATE_INPUTS,
        help_text=_("As on the resident's identity document."),
        widget=forms.DateInput(attrs=DATE_ATTRS, format="%Y-%m-%d"),
        error_messages={"invalid": DATE_ERROR},
    )
    booth = forms.CharField(
        label=_("Booth"), max_length=80, help_text=_("Where you are, e.g. “Town hall, room 2”.")
    )


class RollUploadForm(forms.Form):
    # Chosen when the page is shown, so the page can poll this job's progress while the upload is checked.
    job_id = forms.UUIDField(widget=forms.HiddenInput, required=False)
    file = forms.FileField(
        label=_("Voter roll file (CSV or XLSX)"),
        help_text=_(
            "Columns: reference, date_of_birth (YYYY-MM-DD), district (pot slug or name), "
            "contact (optional). One voter per row."
        ),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        name = f.name.lower()
        if not name.endswith((".csv", ".xlsx", ".txt")):
            raise forms.ValidationError(_("Please upload a .csv or .xlsx file."))
        return f


REFERENCES_MAX_BYTES = 1024 * 1024  # 5000 references of up to 64 characters fit many times over
MAX_FIELD_CHARS = 1000


def read_small_csv(text: str) -> list[list[str]]:
    """Rows of a CSV typed by a person (a list of references): every problem is a form error naming the line,
    never an exception (csv.Error for a field over csv's own limit, an unclosed quote, a NUL byte)."""
    reader = csv.reader(io.StringIO(text))
    rows = []
    try:
        for row in reader:
            if any(len(cell) > MAX_FIELD_CHARS for cell in row):
                raise forms.ValidationError(
                    _("line %(line)s: a field is longer than %(n)s characters.")
                    % {"line": reader.line_num, "n": MAX_FIELD_CHARS}
                )
            rows.append(row)
    except csv.Error as exc:
        if "field limit" in str(exc):
            message = _("line %(line)s: a field is longer than %(n)s characters.")
        else:
            message = _("line %(line)s: this is not valid CSV (%(error)s).")
        raise forms.ValidationError(
            message % {"line": reader.line_num, "n": MAX_FIELD_CHARS, "error": exc}
        ) from exc
    return rows


class CodesGenerateForm(forms.Form):
    district = forms.ModelChoiceField(
        label=_("District"), queryset=Pot.objects.none(), required=False, empty_label=_("All districts")
    )
    references = forms.FileField(
        label=_("Or: a list of voter references"),
        required=False,
        help_text=_(
            "A CSV with a “reference” column (or one reference per line): codes for exactly these voters, "
            "with the reference printed on each sheet so letters reach the right person."
        ),
    )
    limit = forms.IntegerField(label=_("At most this many voters"), min_value=1, max_value=5000, initial=500)
    output = forms.ChoiceField(
        label=_("Output"),
        choices=[("pdf", _("PDF: one page per voter, to print")), ("csv", _("CSV: for a mail merge"))],
        initial="pdf",
    )

    def __init__(self, *args, election=None, **kwargs):
        super().__init__(*args, **kwargs)
        if election is not None:
            self.fields["district"].queryset = election.pots.filter(is_citywide=False).order_by("name")

    def clean_references(self) -> list[str] | None:
        f = self.cleaned_data.get("references")
        if not f:
            return None
        if f.size > REFERENCES_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is too large (%(kb)s KB at most): list at most 5000 references.")
                % {"kb": REFERENCES_MAX_BYTES // 1024}
            )
        try:
            text = f.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 text: save it as “CSV UTF-8”.")) from exc
        rows = read_small_csv(text)
        if not rows:
            raise forms.ValidationError(_("The file is empty."))
        cols, _problems = header_map(rows[0])
        if "reference" in cols:
            i = cols["reference"]
            refs = [r[i] for r in rows[1:] if len(r) > i]
        else:
            refs = [r[0] for r in rows if r]
        refs = [r.strip() for r in refs if r.strip()]
        if not refs:
            raise forms.ValidationError(_("The file lists no voter reference."))
        if len(refs) > 5000:
            raise forms.ValidationError(_("At most 5000 references at a time."))
        return refs


class CodeVoidForm(forms.Form):
    reference = forms.CharField(label=_("Voter reference"), max_length=64, required=False)
    code = forms.CharField(label=_("or the code itself"), max_length=40, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("reference") and not data.get("code"):
            raise forms.ValidationError(_("Give a voter reference or a code to void."))
        return data


class CodeReissueForm(forms.Form):
    reference = forms.CharField(label=_("Voter reference"), max_length=64)
