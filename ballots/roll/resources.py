"""django-import-export resources of the voter roll.

Reading: XLSX files are read through import-export's XLSX format (tablib/openpyxl) in
ballots.roll.entries.read_xlsx
and checked by the same row validator as CSV. Reports: the row-error report of an import job and an export
of the roll (hashes only: the roll holds no identifier in clear) as CSV or XLSX.
"""

from __future__ import annotations

import tablib
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from ballots.models import ImportJob, VoterRollEntry
from pb.core.spreadsheet import safe_dataset

FORMATS = {"csv": CSV, "xlsx": XLSX}


class VoterRollResource(resources.ModelResource):
    district = fields.Field(attribute="district__slug", column_name="district")

    class Meta:
        model = VoterRollEntry
        fields = ("id", "district", "birth_year", "age_eligible", "booth", "ref_hash")
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("district").order_by("pk")


def error_report(job: ImportJob, fmt: str = "csv") -> bytes | str:
    """The job's row errors as a spreadsheet: row, column, message."""
    data = tablib.Dataset(headers=["row", "column", "message"])
    for e in job.errors:
        data.append([e.get("row") or "", e.get("column", ""), e.get("message", "")])
    return FORMATS[fmt]().export_data(safe_dataset(data))


def roll_export(election, fmt: str = "csv") -> bytes | str:
    dataset = VoterRollResource().export(queryset=VoterRollEntry.objects.filter(election=election))
    return FORMATS[fmt]().export_data(safe_dataset(dataset))
