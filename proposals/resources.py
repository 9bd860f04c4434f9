"""Import and export of proposals with django-import-export (CSV and XLSX).

Import only adds proposals. Each row is validated by the widgets below (costs, districts, categories,
coordinates) and by the model (lengths); the report lists every row's outcome, and the service refuses the
whole file if any row is invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import tablib
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from import_export import resources, widgets
from import_export.fields import Field

from pb.core.models import Category, Election, Pot
from proposals.models import Proposal, ProposalStatus
from proposals.services import MAX_COST, next_code

FORMATS = ("csv", "xlsx")
REQUIRED_COLUMNS = ("title", "description", "pot", "cost")
IMPORT_COLUMNS = (
    "code",
    "title",
    "description",
    "pot",
    "category",
    "cost",
    "adjusted_cost",
    "cost_note",
    "location",
    "latitude",
    "longitude",
    "language",
    "status",
    "review_reason",
)
IMPORTABLE_STATUSES = (ProposalStatus.SUBMITTED, ProposalStatus.FEASIBLE, ProposalStatus.NOT_FEASIBLE)
_INT_RE = re.compile(r"^[+-]?\d+$")


class WholeNumberWidget(widgets.Widget):
    """A positive whole number of currency units; refuses 12.5, -3, 'abc' with a message."""

    def __init__(self, required: bool = False):
        super().__init__()
        self.required = required

    def clean(self, value, row=None, **kwargs):
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.required:
                raise ValueError(_("This value is required."))
            return None
        if isinstance(value, float) and value.is_integer():  # XLSX stores numbers as floats
            value = int(value)
        text = str(value).strip()
        if isinstance(value, bool) or not _INT_RE.match(text):
            raise ValueError(_("“%(value)s” is not a whole number.") % {"value": text})
        number = int(text)
        if number < 1:
            raise ValueError(_("“%(value)s” must be a positive whole number.") % {"value": text})
        if number > MAX_COST:
            raise ValueError(_("“%(value)s” is unrealistically large.") % {"value": text})
        return number

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value


class CoordinateWidget(widgets.Widget):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def clean(self, value, row=None, **kwargs):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            number = Decimal(str(value).strip()).quantize(Decimal("0.000001"))
        except InvalidOperation as exc:
            raise ValueError(_("“%(value)s” is not a number.") % {"value": value}) from exc
        if not -self.limit <= number <= self.limit:
            raise ValueError(
                _("“%(value)s” is out of range (-%(limit)s to %(limit)s).")
                % {"value": value, "limit": self.limit}
            )
        return number

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class ElectionChoiceWidget(widgets.ForeignKeyWidget):
    """A pot or category of this election, by slug or name (case-insensitive)."""

    def __init__(self, model, election: Election, what: str, required: bool):
        super().__init__(model, field="slug")
        self.election, self.what, self.required = election, what, required

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if not text:
            if self.required:
                raise ValueError(_("This value is required."))
            return None
        qs = self.model.objects.filter(election=self.election)
        match = qs.filter(slug__iexact=text).first() or qs.filter(name__iexact=text).first()
        if match is None:
            known = ", ".join(qs.values_list("slug", flat=True))
            raise ValueError(
                _("Unknown %(what)s “%(value)s”. Known: %(known)s.")
                % {"what": self.what, "value": text, "known": known}
            )
        return match

    def render(self, value, obj=None, **kwargs):
        return value.slug if value else ""


class StatusWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip().lower().replace(" ", "_").replace("-", "_")
        if not text:
            return ProposalStatus.SUBMITTED
        if text not in IMPORTABLE_STATUSES:
            raise ValueError(
                _("Unknown status “%(value)s”. Use one of: %(known)s.")
                % {"value": value, "known": ", ".join(IMPORTABLE_STATUSES)}
            )
        return text

    def render(self, value, obj=None, **kwargs):
        return value or ""


class ProposalResource(resources.ModelResource):
    code = Field(attribute="code", column_name="code")
    # A number, not text: officials sum this column in their spreadsheet.
    final_cost = Field(
        attribute="final_cost", column_name="final_cost", readonly=True, widget=WholeNumberWidget()
    )
    merged_into = Field(
        attribute="merged_into",
        column_name="merged_into",
        widget=widgets.ForeignKeyWidget(Proposal, field="code"),
        readonly=True,
    )

    class Meta:
        model = Proposal
        fields = (*IMPORT_COLUMNS, "final_cost", "merged_into")
        export_order = (*IMPORT_COLUMNS, "final_cost", "merged_into")
        import_id_fields = ()
        force_init_instance = True  # import only adds proposals
        clean_model_instances = True
        skip_diff = True
        store_instance = True

    def __init__(self, *, election: Election, **kwargs):
        super().__init__(**kwargs)
        self.election = election
        self.fields["pot"] = Field(
            attribute="pot",
            column_name="pot",
            widget=ElectionChoiceWidget(Pot, election, _("district"), True),
        )
        self.fields["category"] = Field(
            attribute="category",
            column_name="category",
            widget=ElectionChoiceWidget(Category, election, _("category"), False),
        )
        self.fields["cost"] = Field(
            attribute="cost", column_name="cost", widget=WholeNumberWidget(required=True)
        )
        self.fields["adjusted_cost"] = Field(
            attribute="adjusted_cost", column_name="adjusted_cost", widget=WholeNumberWidget()
        )
        self.fields["latitude"] = Field(
            attribute="latitude", column_name="latitude", widget=CoordinateWidget(90)
        )
        self.fields["longitude"] = Field(
            attribute="longitude", column_name="longitude", widget=CoordinateWidget(180)
        )
        self.fields["status"] = Field(attribute="status", column_name="status", widget=StatusWidget())
        self._language = translation.get_language() or "en"

    def get_queryset(self):
        return Proposal.objects.filter(election=self.election).select_related(
            "pot", "category", "merged_into"
        )

    def after_init_instance(self, instance, new, row, **kwargs):
        instance.election = self.election
        instance.language = self._language
        instance.status = ProposalStatus.SUBMITTED
        for name in ("location", "cost_note", "review_reason", "code"):
            setattr(instance, name, "")

    def import_instance(self, instance, row, **kwargs):
        # Text cells may be None (empty XLSX cells): store "" so the model's blank rules apply.
        for name in ("title", "description", "location", "cost_note", "review_reason", "code", "language"):
            if name in row and row[name] is None:
                row[name] = ""
        super().import_instance(instance, row, **kwargs)
        if not instance.language:
            instance.language = self._language

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if instance.code and not re.match(r"^[A-Za-z0-9_-]{1,20}$", instance.code):
            errors["code"] = ValidationError(_("A project id may only use letters, digits, - and _."))
        elif instance.code and Proposal.objects.filter(election=self.election, code=instance.code).exists():
            errors["code"] = ValidationError(
                _("Project id %(code)s already exists: import only adds new proposals.")
                % {"code": instance.code}
            )
        if instance.status == ProposalStatus.NOT_FEASIBLE and not (instance.review_reason or "").strip():
            errors["review_reason"] = ValidationError(_("A not-feasible proposal needs a public reason."))
        if instance.adjusted_cost is not None and not (instance.cost_note or "").strip():
            errors["cost_note"] = ValidationError(_("Explain the adjusted cost in a note."))
        if not instance.code:
            instance.code = next_code(self.election)
        super().validate_instance(instance, errors, validate_unique)


@dataclass
class RowOutcome:
    number: int
    code: str = ""
    title: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    file_errors: list[str] = field(default_factory=list)
    rows: list[RowOutcome] = field(default_factory=list)
    imported: bool = False

    @property
    def invalid_rows(self) -> list[RowOutcome]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.invalid_rows and bool(self.rows)

    def summary(self) -> str:
        if self.file_errors:
            return self.file_errors[0]
        if not self.rows:
            return _("The file has no rows to import.")
        bad = len(self.invalid_rows)
        if bad:
            return ngettext(
                "%(bad)d of %(total)d rows is invalid: nothing was imported.",
                "%(bad)d of %(total)d rows are invalid: nothing was imported.",
                bad,
            ) % {"bad": bad, "total": len(self.rows)}
        return ngettext(
            "%(n)d proposal is ready to import.", "%(n)d proposals are ready to import.", len(self.rows)
        ) % {"n": len(self.rows)}


def load_dataset(content: bytes, file_format: str) -> tablib.Dataset:
    if file_format not in FORMATS:
        raise ValueError(_("Upload a .csv or .xlsx file."))
    try:
        if file_format == "csv":
            text = content.decode("utf-8-sig")
            return tablib.Dataset().load(text, format="csv")
        return tablib.Dataset().load(content, format="xlsx")
    except UnicodeDecodeError as exc:
        raise ValueError(_("The CSV file is not UTF-8 text.")) from exc
    except Exception as exc:  # tablib/openpyxl raise many kinds for a corrupt file
        raise ValueError(
            _("The file could not be read as %(format)s.") % {"format": file_format.upper()}
        ) from exc


def _field_label(name: str) -> str:
    if name == "__all__":
        return ""
    try:
        return str(Proposal._meta.get_field(name).verbose_name) + ": "
    except Exception:
        return name + ": "


def run_import(*, election: Election, content: bytes, file_format: str, dry_run: bool) -> ImportReport:
    report = ImportReport()
    try:
        dataset = load_dataset(content, file_format)
    except ValueError as exc:
        report.file_errors.append(str(exc))
        return report
    headers = [str(h or "").strip().lower() for h in (dataset.headers or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in headers]
    if missing:
        report.file_errors.append(_("Missing columns: %(cols)s.") % {"cols": ", ".join(missing)})
        return report
    unknown = [h for h in headers if h and h not in IMPORT_COLUMNS]
    if unknown:
        report.file_errors.append(_("Unknown columns: %(cols)s.") % {"cols": ", ".join(unknown)})
        return report
    dataset.headers = headers
    resource = ProposalResource(election=election)
    result = resource.import_data(
        dataset,
        dry_run=dry_run,
        use_transactions=True,
        raise_errors=False,
        rollback_on_validation_errors=True,
    )
    for error in result.base_errors:
        report.file_errors.append(str(error.error))
    invalid = {r.number: r for r in result.invalid_rows}
    errored = dict(result.row_errors())
    for number, row_result in enumerate(result.rows, start=1):
        data = dataset[number - 1]
        title = str(data[headers.index("title")] or "")
        outcome = RowOutcome(number=number, title=title[:80])
        if number in invalid:
            for name, messages in invalid[number].error_dict.items():
                outcome.errors += [_field_label(name) + str(m) for m in messages]
        elif number in errored:
            outcome.errors += [str(e.error) for e in errored[number]]
        elif row_result.instance is not None:
            outcome.code = row_result.instance.code
        report.rows.append(outcome)
    report.imported = not dry_run and report.ok
    return report


def export_bytes(*, election: Election, file_format: str) -> bytes:
    if file_format not in FORMATS:
        raise ValueError(file_format)
    dataset = ProposalResource(election=election).export()
    data = dataset.export(file_format)
    # CSV with a byte-order mark: without it Excel reads UTF-8 as a legacy code page and garbles Vietnamese
    # and Chinese titles. The importer reads it back with utf-8-sig.
    return data.encode("utf-8-sig") if isinstance(data, str) else data


def template_csv(election: Election) -> str:
    pot = election.pots.first()
    category = election.categories.first()
    example = {
        "title": "New benches in the park",
        "description": "Ten benches with backrests along the main path.",
        "pot": pot.slug if pot else "",
        "category": category.slug if category else "",
        "cost": 12000,
        "location": "Main path",
        "status": "submitted",
    }
    dataset = tablib.Dataset(headers=list(IMPORT_COLUMNS))
    dataset.append([example.get(c, "") for c in IMPORT_COLUMNS])
    return dataset.export("csv")
