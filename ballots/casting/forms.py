"""Forms of the voting pages.

The ballot itself is not a Django Form: its fields depend on the pot's projects and ballot type, and all of
its checking lives in ballots.casting.validation (shared with the booth and paper paths). Field names:
knapsack / approval: ``project`` (a checkbox per project, value = project code);
ranked: ``rank-<code>`` (a select per project: "" or 1..k); points: ``points-<code>`` (a number per project).
Fields naming unknown codes are kept, so the validator can say "not a project on this ballot".
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from ballots.casting.validation import BallotSpec, CleanBallot, RawBallot, money
from pb.core.models import BallotType, Pot

RANK_PREFIX = "rank-"
POINTS_PREFIX = "points-"


def raw_ballot_from_post(ballot_type: str, data) -> RawBallot:
    if ballot_type in (BallotType.KNAPSACK, BallotType.APPROVAL):
        return RawBallot.of((code, "") for code in data.getlist("project") if code.strip())
    prefix = RANK_PREFIX if ballot_type == BallotType.RANKED else POINTS_PREFIX
    marks = []
    for key in data:
        if key.startswith(prefix):
            for value in data.getlist(key):
                if value.strip():
                    marks.append((key[len(prefix) :], value))
    return RawBallot.of(marks)


def ballot_hidden_fields(spec: BallotSpec, raw: RawBallot) -> list[tuple[str, str]]:
    """The marks as form fields again: the review page carries the choice (nothing is kept server-side)."""
    if spec.ballot_type in (BallotType.KNAPSACK, BallotType.APPROVAL):
        return [("project", code) for code, _v in raw.marks]
    prefix = RANK_PREFIX if spec.ballot_type == BallotType.RANKED else POINTS_PREFIX
    return [(prefix + code, value) for code, value in raw.marks]


@dataclass
class BallotRow:
    code: str
    title: str
    cost: int
    cost_text: str = ""
    checked: bool = False
    value: str = ""


@dataclass
class ReviewChoice:
    position: int
    code: str
    title: str
    cost_text: str
    points: int | None = None


def review_choices(spec: BallotSpec, clean: CleanBallot) -> list[ReviewChoice]:
    """The clean ballot as the review page lists it (ranked: in rank order)."""
    out = []
    for i, code in enumerate(clean.projects, start=1):
        p = spec.by_code[code.upper()]
        out.append(ReviewChoice(i, p.code, p.title, money(p.cost, spec.currency), clean.points.get(code)))
    return out


def ballot_rows(spec: BallotSpec, raw: RawBallot) -> list[BallotRow]:
    """One row per project of the pot, pre-filled with what the voter marked."""
    marked: dict[str, str] = {}
    for code, value in raw.marks:
        marked.setdefault(code.strip().upper(), value.strip())
    return [
        BallotRow(
            code=p.code,
            title=p.title,
            cost=p.cost,
            cost_text=money(p.cost, spec.currency),
            checked=p.code.upper() in marked,
            value=marked.get(p.code.upper(), ""),
        )
        for p in spec.projects
    ]


# --- Officials: paper ballots -------------------------------------------------------------------------------


class PaperBatchForm(forms.Form):
    pot = forms.ModelChoiceField(queryset=Pot.objects.none(), label=_("Pot"))
    booth = forms.CharField(label=_("Booth"), max_length=80)
    label = forms.CharField(
        label=_("Batch label"), max_length=40, help_text=_("For example the number written on its envelope.")
    )

    def __init__(self, *args, election, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pot"].queryset = election.pots.all()


class PaperEntryForm(forms.Form):
    text = forms.CharField(
        label=_("Paper ballots, one per line"),
        # Not stripped: a leading or trailing empty line is named by the service, not silently removed.
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "autocomplete": "off"}),
    )


class PaperMarkForm(forms.Form):
    booth = forms.CharField(label=_("Booth"), max_length=80)


class PaperAcceptForm(forms.Form):
    """Accept a batch; where the entries differ, say per row which entry matches the paper."""

    note = forms.CharField(label=_("How the differences were resolved"), required=False, max_length=500)

    def __init__(self, *args, differences=(), **kwargs):
        super().__init__(*args, **kwargs)
        for row in differences:
            self.fields[f"row_{row.row}"] = forms.ChoiceField(
                label=_("Row %(n)s") % {"n": row.row},
                choices=[
                    ("a", _("First entry: %(text)s") % {"text": row.a or _("(no line)")}),
                    ("b", _("Second entry: %(text)s") % {"text": row.b or _("(no line)")}),
                ],
                widget=forms.RadioSelect,
                required=False,
            )

    def resolution(self) -> dict[int, str]:
        return {
            int(name[4:]): value
            for name, value in self.cleaned_data.items()
            if name.startswith("row_") and value in ("a", "b")
        }
