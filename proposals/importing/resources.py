"""Import and export of proposals with django-import-export (CSV and XLSX).

Import only adds proposals. Each row is validated by the widgets below (costs, districts, categories,
coordinates) and by the model (lengths); the report lists every row's outcome, and the service refuses the
whole file if any row is invalid.

Long module: the import-export resource, its widgets and the import report describe one file
format together.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
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
from pb.core.spreadsheet import safe_dataset
from proposals.models import Proposal, ProposalStatus
from proposals.search import search_text_for
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
_CODE_RE = re.compile(r"^P(\d+)$")


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
        self._by_key: dict | None = None

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if not text:
            if self.required:
                raise ValueError(_("This value is required."))
            return None
        if self._by_key is None:  # one query per import, not two per row (bounded time for large files)
            objs = list(self.model.objects.filter(election=self.election).order_by("pk"))
            self._by_key = {o.name.lower(): o for o in reversed(objs)}
            self._by_key.update({o.slug.lower(): o for o in reversed(objs)})  # a slug wins over a name
        match = self._by_key.get(text.lower())
        if match is None:
            known = ", ".join(sorted(o.slug for o in self._by_key.values()))
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

    def __init__(self, *, election: Election, progress: Callable[[int], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.election = election
        self._progress = progress
        self._rows_seen = 0
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
        self._next_number: int | None = None

    def get_queryset(self):
        return Proposal.objects.filter(election=self.election).select_related(
            "pot", "category", "merged_into"
        )

    def after_import_row(self, row, row_result, **kwargs):
        # A sign of life for the job page (and the stalled-job check) every 50 rows and at the end.
        self._rows_seen += 1
        if self._progress is not None and self._rows_seen % 50 == 0:
            self._progress(self._rows_seen)

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
        if instance.code and (m := _CODE_RE.match(instance.code)) and self._next_number is not None:
            self._next_number = max(self._next_number, int(m.group(1)) + 1)
        if not instance.code:
            instance.code = self._next_code()
        instance.search_text = search_text_for(instance)  # found by search without accents, like the rest
        # The model's own validation (lengths, choices, cost range), without its per-row queries: the foreign
        # keys were resolved by the widgets from this election's rows (one query per import) and the one
        # constraint (a unique code per election) is checked above and held by the database. Halves the time
        # of a large import (about 5 ms a row left).
        try:
            instance.full_clean(
                exclude=[*errors, "election", "pot", "category", "merged_into"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def _next_code(self) -> str:
        # next_code reads every code of the election: once per import, then counted on, so a file of n rows
        # costs n steps rather than n squared. Codes given in the file are skipped (their rows were saved
        # in this transaction before; the database check above refuses a clash).
        if self._next_number is None:
            self._next_number = int(next_code(self.election)[1:])
        code = f"P{self._next_number:03d}"
        self._next_number += 1
        return code


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

    def as_json(self) -> dict:
        """What a ProposalImportJob keeps of the preview (ProposalImportJob.report)."""
        return {
            "file_errors": list(self.file_errors),
            "rows": [
                {"number": r.number, "code": r.code, "title": r.title, "errors": r.errors} for r in self.rows
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> ImportReport:
        return cls(
            file_errors=list(data.get("file_errors") or []),
            rows=[RowOutcome(**row) for row in data.get("rows") or []],
        )

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


# Bounded work per request, measured on SQLite: a 1.1 MB XLSX of 7000 rows previewed in 10 s (most of it
# rendering the report) and imported in 4.4 s; 2000 rows preview in 1.5-2 s. An import is capped in rows
# (about 7 s at most, well inside the server's 60 s timeout) as well as in bytes
# (PB_PROPOSAL_IMPORT_MAX_BYTES, refused before the upload is read). Larger lists go in several files.
MAX_ROWS = 5000
MAX_FIELD_CHARS = 10_000  # a description has at most 5000
# An XLSX is a zip: a few MB can unpack to gigabytes of XML. Refuse before openpyxl unpacks it.
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024


def _load_csv(text: str) -> tablib.Dataset:
    reader = csv.reader(io.StringIO(text))
    rows = []
    try:
        for row in reader:
            if any(len(cell) > MAX_FIELD_CHARS for cell in row):
                raise ValueError(
                    _("line %(line)s: a field is longer than %(n)s characters.")
                    % {"line": reader.line_num, "n": MAX_FIELD_CHARS}
                )
            rows.append(row)
            if len(rows) > MAX_ROWS + 1:
                break
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise ValueError(
                _("line %(line)s: a field is longer than %(n)s characters.")
                % {"line": reader.line_num, "n": MAX_FIELD_CHARS}
            ) from exc
        raise ValueError(
            _("line %(line)s: this is not valid CSV (%(error)s).") % {"line": reader.line_num, "error": exc}
        ) from exc
    rows = [r for r in rows if any(cell.strip() for cell in r)] if rows else rows
    if not rows:
        raise ValueError(_("The file is empty."))
    header, body = rows[0], rows[1:]
    dataset = tablib.Dataset(headers=header)
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(
                _("line %(line)s has %(n)s cells but the header row has %(m)s.")
                % {"line": number, "n": len(row), "m": len(header)}
            )
        dataset.append(row)
    return dataset


def _load_xlsx(content: bytes) -> tablib.Dataset:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ValueError(
            _("The file could not be read as XLSX: it is not a workbook (an .xlsx file is a zip archive).")
        ) from exc
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ValueError(_("The workbook is too large once unpacked: split it into smaller files."))
    return tablib.Dataset().load(content, format="xlsx")


def load_dataset(content: bytes, file_format: str) -> tablib.Dataset:
    if file_format not in FORMATS:
        raise ValueError(_("Upload a .csv or .xlsx file."))
    if not content.strip():
        raise ValueError(_("The file is empty."))
    try:
        dataset = _load_csv(content.decode("utf-8-sig")) if file_format == "csv" else _load_xlsx(content)
    except UnicodeDecodeError as exc:
        raise ValueError(_("The CSV file is not UTF-8 text.")) from exc
    except ValueError:
        raise
    except Exception as exc:  # tablib/openpyxl raise many kinds for a corrupt file
        raise ValueError(
            _("The file could not be read as %(format)s.") % {"format": file_format.upper()}
        ) from exc
    if len(dataset) > MAX_ROWS:
        raise ValueError(
            _("The file has more than %(n)s rows: split it into files of at most %(n)s proposals.")
            % {"n": MAX_ROWS}
        )
    return dataset


def _field_label(name: str) -> str:
    if name == "__all__":
        return ""
    try:
        return str(Proposal._meta.get_field(name).verbose_name) + ": "
    except Exception:
        return name + ": "


def run_import(
    *,
    election: Election,
    content: bytes,
    file_format: str,
    dry_run: bool,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Check (dry run) or import the file's rows. `progress(done, total)` is called as rows are processed."""
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
    total = len(dataset)
    if progress is not None:
        progress(0, total)
    resource = ProposalResource(
        election=election, progress=(lambda n: progress(n, total)) if progress is not None else None
    )
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
    if progress is not None:
        progress(total, total)
    return report


def export_bytes(*, election: Election, file_format: str) -> bytes:
    if file_format not in FORMATS:
        raise ValueError(file_format)
    # Residents write the titles and descriptions: no cell may reach the official's spreadsheet as a formula.
    dataset = safe_dataset(ProposalResource(election=election).export())
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
    return safe_dataset(dataset).export("csv")
