"""Voter roll: keyed hashes of personal identifiers, row validation, the fast import path, the snapshot.

Personal identifiers are never stored in clear: `ref_hash = HMAC-SHA256(PB_HMAC_KEY, "ref:" + ref)` and
`ref_dob_hash = HMAC-SHA256(PB_HMAC_KEY, "refdob:" + ref + "|" + YYYY-MM-DD)`. References are normalised
(whitespace stripped, upper-cased) so " ab-12 " and "AB-12" match. The domain prefixes keep the three kinds
of hash (reference, reference+birth date, voting code) from ever colliding.

Long module: hashing, row validation and the bulk import path share the row format; split, each
part would import the others.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _


def _key() -> bytes:
    return settings.PB_HMAC_KEY.encode()


class Hmac:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once: about 1 µs a message
    instead of 3 µs for `hmac.digest`, which matters at a million rows. Same output as
    `hmac.new(key, msg, sha256)`."""

    def __init__(self, key: bytes):
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hex(self, msg: bytes) -> str:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def keyed_hash(domain: str, value: str) -> str:
    return hmac.new(_key(), f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()


def normalize_ref(ref: str) -> str:
    return "".join(ref.split()).upper()


def ref_hash(ref: str) -> str:
    return keyed_hash("ref", normalize_ref(ref))


def ref_dob_hash(ref: str, dob_iso: str) -> str:
    return keyed_hash("refdob", f"{normalize_ref(ref)}|{dob_iso}")


def contact_hash(contact: str) -> str:
    contact = contact.strip().lower()
    return keyed_hash("contact", contact) if contact else ""


# --- Voting codes ------------------------------------------------------------------------------------------
# Crockford's base32 alphabet: no I, L, O, U, so a code read aloud or off paper is unambiguous; on input
# O is read as 0 and I, L as 1. 12 symbols x 5 bits = 60 bits of entropy from `secrets`.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
_CODE_INPUT_MAP = str.maketrans({"O": "0", "I": "1", "L": "1"})


def format_code(symbols: str) -> str:
    return "-".join(symbols[i : i + 4] for i in range(0, len(symbols), 4))


def code_from_int(value: int) -> str:
    symbols = []
    for _i in range(CODE_LENGTH):
        value, r = divmod(value, 32)
        symbols.append(CODE_ALPHABET[r])
    return format_code("".join(symbols))


def new_code() -> str:
    """A fresh random code like "7K2M-QX9D-B4TN" (60 bits from the OS's CSPRNG)."""
    return code_from_int(secrets.randbits(5 * CODE_LENGTH))


def new_letter_reference() -> str:
    """A reference printed on a code letter, e.g. "L-7K2M-QX9D" (40 random bits): it names the letter, not the
    voter, so a letter found in the street says nothing about the roll; only the batch's mail-merge file
    links it to a roll entry."""
    value = secrets.randbits(40)
    symbols = "".join(CODE_ALPHABET[(value >> (5 * i)) & 31] for i in range(8))
    return f"L-{symbols[:4]}-{symbols[4:]}"


def normalize_code(text: str) -> str | None:
    """The code's 12 symbols, or None if the text cannot be a code."""
    symbols = "".join(ch for ch in text.upper() if ch not in " -\t").translate(_CODE_INPUT_MAP)
    if len(symbols) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in symbols):
        return None
    return symbols


def code_hash(symbols: str) -> str:
    return keyed_hash("code", symbols)


# --- Row validation (shared by the import-export preview and the streaming fast path) ------------------

COLUMNS = ("reference", "date_of_birth", "district", "contact", "booth")
_ALIASES = {
    "reference": "reference",
    "voter_reference": "reference",
    "ref": "reference",
    "voter_ref": "reference",
    "id": "reference",
    "date_of_birth": "date_of_birth",
    "dob": "date_of_birth",
    "birth_date": "date_of_birth",
    "birthdate": "date_of_birth",
    "born": "date_of_birth",
    "district": "district",
    "pot": "district",
    "contact": "contact",
    "email": "contact",
    "phone": "contact",
    "booth": "booth",
    "polling_place": "booth",
}
REQUIRED = ("reference", "date_of_birth", "district")


def header_map(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Column name -> index for the known columns, and error messages for missing ones."""
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _ALIASES.get("_".join(str(name or "").strip().lower().replace("-", " ").split()))
        if key and key not in found:
            found[key] = i
    missing = [c for c in REQUIRED if c not in found]
    problems = [_("The file has no “%(column)s” column.") % {"column": c} for c in missing]
    return found, problems


@dataclass
class RowError:
    row: int
    column: str
    message: str


@dataclass
class RollContext:
    election_id: int
    min_age: int | None
    reference_date: dt.date | None
    today: dt.date
    pots: dict[str, int]  # lower-cased slug and name of each district (never a citywide pot) -> pot id
    existing: set[str]  # ref_hashes already on the roll
    seen: dict[str, int] = field(default_factory=dict)  # ref_hash -> first row in this file
    mac: Hmac | None = None
    citywide: set[str] = field(default_factory=set)  # lower-cased slugs and names of the citywide pots
    district_names: list[str] = field(default_factory=list)  # for the error message: the allowed districts


def make_context(election, *, existing: set[str] | None = None) -> RollContext:
    from ballots.models import VoterRollEntry

    pots: dict[str, int] = {}
    citywide: set[str] = set()
    names: list[str] = []
    # A home district is a real district: a citywide pot is open to everybody and is nobody's district (a
    # voter filed under it would lose their own district's vote without any warning).
    for pot in election.pots.order_by("name"):
        if pot.is_citywide:
            citywide.update({pot.slug.lower(), pot.name.strip().lower()})
            continue
        pots[pot.slug.lower()] = pot.pk
        pots.setdefault(pot.name.strip().lower(), pot.pk)
        names.append(pot.name)
    if existing is None:
        existing = set(VoterRollEntry.objects.filter(election=election).values_list("ref_hash", flat=True))
    return RollContext(
        election_id=election.pk,
        min_age=election.min_age,
        reference_date=election.age_reference_date,
        today=timezone.localdate(),
        pots=pots,
        existing=existing,
        mac=Hmac(_key()),
        citywide=citywide,
        district_names=names,
    )


# The only date format of the roll: ISO 8601, YYYY-MM-DD. "03/04/1990" is 3 April in Europe and 4 March in
# the US; a roll that guessed would file some voters under the wrong birth date (wrong age, failed roll
# match), so anything else is refused with the row and the expected format. Real dates of a spreadsheet
# (XLSX date cells) carry no such doubt and are accepted as they are.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_LOCAL_DATE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2\d{2,4}", re.ASCII)
DATE_FORMAT = "YYYY-MM-DD"


def parse_date(value) -> dt.date | None:
    """A date from a roll cell: a spreadsheet date, or text in exactly YYYY-MM-DD; else None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def date_error(rownum: int, value) -> str:
    """Why a date cell was refused, naming the line and the expected format."""
    text = str(value).strip()[:40]
    local = _LOCAL_DATE.fullmatch(text)
    if local and int(local[1]) <= 12 and int(local[3]) <= 12 and local[1] != local[3]:
        return _(
            "Line %(row)s: “%(value)s” is ambiguous (day and month could be either way round). "
            "Write dates as %(format)s, e.g. 1990-04-03 for 3 April 1990."
        ) % {"row": rownum, "value": text, "format": DATE_FORMAT}
    if _ISO_DATE.fullmatch(text):
        return _("Line %(row)s: “%(value)s” is not a real date (%(format)s).") % {
            "row": rownum,
            "value": text,
            "format": DATE_FORMAT,
        }
    return _(
        "Line %(row)s: “%(value)s” is not a date in the expected format %(format)s, e.g. 1990-04-03."
    ) % {
        "row": rownum,
        "value": text,
        "format": DATE_FORMAT,
    }


def _district_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown}, …" if len(names) > limit else shown


# A validated row, in the column order of `INSERT_COLUMNS`.
INSERT_COLUMNS = (
    "election_id",
    "ref_hash",
    "ref_dob_hash",
    "birth_year",
    "age_eligible",
    "district_id",
    "contact_hash",
    "booth",
)


def validate_row(
    ctx: RollContext, rownum: int, ref, dob, district, contact="", booth=""
) -> tuple[tuple | None, list[RowError]]:
    """Check one row; return the row to insert (or None) and its errors. Both import paths call this."""
    errors: list[RowError] = []
    ref = "".join(str(ref or "").split()).upper()
    if not ref:
        errors.append(RowError(rownum, "reference", _("The voter reference is missing.")))
    elif len(ref) > 64:
        errors.append(RowError(rownum, "reference", _("The voter reference is longer than 64 characters.")))
    birth = None
    if dob is None or str(dob).strip() == "":
        errors.append(RowError(rownum, "date_of_birth", _("The date of birth is missing.")))
    else:
        birth = parse_date(dob)
        if birth is None:
            errors.append(RowError(rownum, "date_of_birth", date_error(rownum, dob)))
        elif birth > ctx.today or birth.year < 1880:
            errors.append(
                RowError(
                    rownum,
                    "date_of_birth",
                    _("The date of birth %(value)s is impossible.") % {"value": birth.isoformat()},
                )
            )
            birth = None
    district_text = str(district or "").strip()
    pot_id = ctx.pots.get(district_text.lower())
    if not district_text:
        errors.append(RowError(rownum, "district", _("The district is missing.")))
    elif pot_id is None:
        if district_text.lower() in ctx.citywide:
            message = _(
                "Line %(row)s: “%(value)s” is the citywide pot, not a home district. "
                "Give the voter's district: %(districts)s."
            )
        else:
            message = _(
                "Line %(row)s: “%(value)s” is not a district of this election. Use one of: %(districts)s."
            )
        errors.append(
            RowError(
                rownum,
                "district",
                message
                % {
                    "row": rownum,
                    "value": district_text[:80],
                    "districts": _district_list(ctx.district_names)
                    or _("(this election has no district yet)"),
                },
            )
        )
    rh = None
    if ref:
        rh = ctx.mac.hex(f"ref:{ref}".encode())
        first = ctx.seen.get(rh)
        if first is not None:
            errors.append(
                RowError(
                    rownum,
                    "reference",
                    _("This voter reference is also on row %(row)s of the file.") % {"row": first},
                )
            )
        else:
            ctx.seen[rh] = rownum
            if rh in ctx.existing:
                errors.append(
                    RowError(rownum, "reference", _("This voter reference is already on the roll."))
                )
    if errors or birth is None or rh is None or pot_id is None:
        return None, errors
    iso = birth.isoformat()
    eligible = True
    if ctx.min_age and ctx.reference_date:
        r = ctx.reference_date
        age = r.year - birth.year - ((r.month, r.day) < (birth.month, birth.day))
        eligible = age >= ctx.min_age
    contact = str(contact or "").strip().lower()
    row = (
        ctx.election_id,
        rh,
        ctx.mac.hex(f"refdob:{ref}|{iso}".encode()),
        birth.year,
        eligible,
        pot_id,
        ctx.mac.hex(f"contact:{contact}".encode()) if contact else "",
        str(booth or "").strip()[:80],
    )
    return row, errors


# --- Reading files ---------------------------------------------------------------------------------------


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=counts.get) if any(counts.values()) else ","


def read_csv(path: str | Path) -> tuple[dict[str, int], list[str], Iterator[tuple[int, list[str]]]]:
    """Open a CSV file: its column map, header problems, and an iterator of (row number, cells)."""
    # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark, which is dropped.
    fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by the generator)
    try:
        first = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=_sniff_delimiter(first))
        cols, problems = header_map(next(reader, []))
    except BaseException:
        fh.close()
        raise
    if problems:
        fh.close()
        return cols, problems, iter(())

    def rows():
        with fh:
            try:
                yield from enumerate(reader, start=2)
            except csv.Error as exc:  # a field over csv's limit (128 KB), a NUL byte...: say where
                raise ValueError(
                    _("line %(line)s: this line cannot be read as CSV (%(error)s).")
                    % {"line": reader.line_num, "error": exc}
                ) from exc

    return cols, problems, rows()


def read_xlsx(path: str | Path) -> tuple[dict[str, int], list[str], Iterator[tuple[int, list]]]:
    """Open an XLSX file (first sheet) through django-import-export's format (tablib/openpyxl)."""
    from import_export.formats.base_formats import XLSX

    with open(path, "rb") as fh:
        dataset = XLSX().create_dataset(fh.read())
    cols, problems = header_map(list(dataset.headers or []))

    def rows():
        for i, row in enumerate(dataset, start=2):
            yield i, list(row)

    return cols, problems, rows()


def count_lines(path: str | Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def open_roll_file(path: str | Path):
    return read_xlsx(path) if str(path).lower().endswith(".xlsx") else read_csv(path)


# --- Import ------------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    imported: int = 0
    seconds: float = 0.0


def _insert(rows: list[tuple]) -> None:
    """Write validated rows: COPY on PostgreSQL, executemany of one INSERT elsewhere (SQLite)."""
    from ballots.models import VoterRollEntry

    table = VoterRollEntry._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cols = ", ".join(INSERT_COLUMNS)
            with cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            # A bigger page cache for this connection: the unique index over random hashes is written all
            # over; with the default 2 MB cache SQLite re-reads pages from disk for most rows.
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA cache_size = -262144")  # KiB: 256 MB
            qn = connection.ops.quote_name
            cols = ", ".join(qn(c) for c in INSERT_COLUMNS)
            marks = ", ".join(["%s"] * len(INSERT_COLUMNS))
            sql = f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks})"  # noqa: S608 (fixed names only)
            cursor.executemany(sql, rows)
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA cache_size = -2000")  # back to SQLite's default


def import_rows(
    election,
    cols: dict[str, int],
    rows: Iterable[tuple[int, list]],
    *,
    dry_run: bool,
    progress: Callable[[str, int], None] | None = None,
    max_errors: int = 200,
    chunk: int = 50_000,
) -> ImportReport:
    """Validate every row; unless `dry_run`, and only if no row has an error, write them all in one
    transaction (any bad row: nothing is written). `progress(phase, rows_done)` is called every `chunk`
    rows, phase "checking" then "writing".

    Rows are written sorted by ref_hash: the unique index then grows at its end instead of at random
    places (about twice as fast on SQLite), and the row order says nothing about the file's order.
    """
    started = time.perf_counter()
    report = ImportReport()
    ctx = make_context(election)
    i_ref, i_dob, i_dis = cols["reference"], cols["date_of_birth"], cols["district"]
    i_con, i_booth = cols.get("contact"), cols.get("booth")
    valid: list[tuple] = []
    for rownum, cells in rows:
        n = len(cells)
        if n == 0 or not any(cells):
            continue  # blank line
        report.rows += 1
        row, errors = validate_row(
            ctx,
            rownum,
            cells[i_ref] if i_ref < n else "",
            cells[i_dob] if i_dob < n else "",
            cells[i_dis] if i_dis < n else "",
            cells[i_con] if i_con is not None and i_con < n else "",
            cells[i_booth] if i_booth is not None and i_booth < n else "",
        )
        if errors:
            if not report.error_count:
                valid = []  # nothing will be written: stop keeping rows
            report.error_count += len(errors)
            room = max_errors - len(report.errors)
            if room > 0:
                report.errors.extend(errors[:room])
        elif not dry_run and not report.error_count:
            valid.append(row)
        if progress is not None and report.rows % chunk == 0:
            progress("checking", report.rows)
    if not dry_run and not report.error_count and valid:
        valid.sort(key=itemgetter(1))
        # Per-row foreign-key checks: dropping the keys for one check at the end was 5.5 s faster per million
        # rows, but ALTER TABLE locks the referenced election table, so every page that reads an election
        # (voting in other elections included) waited up to 5 s behind the import (bench/roll_import.py).
        with transaction.atomic():
            for start in range(0, len(valid), chunk):
                _insert(valid[start : start + chunk])
                if progress is not None:
                    progress("writing", min(start + chunk, len(valid)))
        report.imported = len(valid)
    report.seconds = time.perf_counter() - started
    return report


# --- Snapshot ---------------------------------------------------------------------------------------------


def roll_digest(election) -> tuple[int, str]:
    """Entry count and SHA-256 of the roll, deterministic for the same roll.

    Byte format hashed: for every roll entry, sorted by `ref_hash` ascending (64 lower-case hex characters,
    so byte order = sort order), one line `<ref_hash> TAB <district pot slug> TAB <1 if age-eligible else 0>
    LF`, encoded as UTF-8, concatenated with nothing in between. The empty roll hashes the empty string.
    """
    from ballots.models import VoterRollEntry

    h = hashlib.sha256()
    count = 0
    slugs = dict(election.pots.values_list("pk", "slug"))
    rows = (
        VoterRollEntry.objects.filter(election=election)
        .order_by("ref_hash")
        .values_list("ref_hash", "district_id", "age_eligible")
    )
    for ref, district_id, eligible in rows.iterator(chunk_size=20_000):
        h.update(f"{ref}\t{slugs[district_id]}\t{1 if eligible else 0}\n".encode())
        count += 1
    return count, h.hexdigest()
