"""Read and write Pabulib `.pb` files (pabulib.org/format) exactly, keeping every column.

A file has three sections, each a section name line and then `;`-separated CSV with a header line:

    META      key;value            (budget, vote_type, rule, min/max_length, max_sum_points, ...)
    PROJECTS  project_id;cost;...  (any extra columns: name, votes, score, selected, category, ...)
    VOTES     voter_id;vote;...    (vote = comma list of project ids; points = comma list of integers
                                    for cumulative/scoring, optional for ordinal; any extra columns)

`read()` accepts a path or the text itself; BOM, CRLF, quoted fields (with `;` or newlines inside) are
handled. Everything malformed raises `PabulibError` with one message naming the line and the fault.
`write()` gives text that `parse()` turns back into the same instance and profile (all columns, file order).
`build()` makes an `Election` from plain records (what the Django side exports), validated like a file.

Speed and memory: the file is read in blocks of lines and VOTES is kept column-wise (`model.BallotTable`:
CSR arrays of project indices, voter ids as integers, other columns as text), checked with C loops. A plain
block (every line with the header's number of fields, integer voter ids, project ids of at most 8 bytes, no
points column) is read from its UTF-8 bytes with NumPy: field ends, the voters' digits and the vote tokens
found by position, tokens turned into project indices by a perfect hash of the ids (`_add_bytes`); any other
block by str.split and map (`add`). Warsaw 2026 (3.2 MB, 61,668 voters): 0.03 s CPU (0.065 s by str.split
and map; the line-by-line parser: 0.23 s, 64 MB); `profile.ballots` builds the Ballot objects on first use
(0.07 s), and rules can use `profile.ballots.csr()` instead. Anything the fast path cannot vouch for (a
quote in VOTES, spaces around project ids, any fault) is read again by the line-by-line parser, which names
the first fault's line. Figures: bench/parse.py.

Long module: one file format, its streaming reader and its writer, kept in one place so the format
is read and written by the same definitions.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from tally.engine.model import VOTE_TYPES, Ballot, BallotTable, Election, Instance, Profile, Project

SECTIONS = ("META", "PROJECTS", "VOTES")
_INT = re.compile(r"[+-]?\d+(?:\.0*)?")  # "3" or "3.0" (pabutools writes points as floats)
_POS_INT = re.compile(r"\d+")


class PabulibError(ValueError):
    """A malformed .pb file. The message names the line (1-based) and what is wrong."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


# ------------------------------------------------------------------------------------------------- reading


def read(path_or_text: str | os.PathLike | bytes) -> Election:
    """Read a .pb file from a path, from bytes, or from its text (anything containing a newline)."""
    if isinstance(path_or_text, bytes):
        return parse(_decode(path_or_text, "<bytes>"))
    if isinstance(path_or_text, os.PathLike) or "\n" not in path_or_text:
        path = Path(path_or_text)
        try:
            with path.open("rb") as f:
                fast = _parse_fast(_file_blocks(f, os.fstat(f.fileno()).st_size))
        except FileNotFoundError:
            raise PabulibError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise PabulibError(f"{path}: is a directory, not a .pb file") from None
        except OSError as exc:
            raise PabulibError(f"{path}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            fast = None  # the line-by-line reader names the line of the bad byte
        if fast is not None:
            return fast
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PabulibError(f"{path}: cannot read ({exc.strerror})") from None
        return _parse_lines(_decode(data, str(path)))
    return parse(path_or_text)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PabulibError(f"{name} is not UTF-8 text (byte {exc.start})", line) from None


def _split_rows(lines: list[str], start: int, stop: int) -> Iterable[tuple[int, list[str]]]:
    """Yield (1-based line number, fields) for lines[start:stop]; quoted fields may span lines."""
    i = start
    while i < stop:
        line = lines[i]
        lineno = i + 1
        i += 1
        if '"' not in line:
            if line.strip() == "":
                continue
            yield lineno, line.split(";")
            continue
        # A quoted field may hold newlines: join lines until the quotes balance.
        while line.count('"') % 2 and i < stop:
            line += "\n" + lines[i]
            i += 1
        if line.count('"') % 2:
            raise PabulibError("unclosed quote", lineno)
        try:
            fields = next(csv.reader([line], delimiter=";", strict=True))
        except csv.Error as exc:  # e.g. a quote inside an unquoted field that runs on to the next line
            raise PabulibError(f"bad quoting ({exc})", lineno) from None
        yield lineno, fields


def _header(lines: list[str], idx: int, section: str, required: Sequence[str]) -> list[str]:
    if idx >= len(lines) or lines[idx].strip() == "" or lines[idx].strip().upper() in SECTIONS:
        raise PabulibError(f"section {section} has no header line", idx + 1)
    header = lines[idx]
    cols = next(csv.reader([header], delimiter=";")) if '"' in header else header.split(";")
    cols = [c.strip() for c in cols]
    for name in required:
        if name not in cols:
            raise PabulibError(
                f"{section} header must have a {name!r} column (found: {';'.join(cols)})", idx + 1
            )
    seen: set[str] = set()
    for c in cols:
        if c in seen:
            raise PabulibError(f"{section} header repeats the column {c!r}", idx + 1)
        seen.add(c)
    return cols


def _to_int(text: str, what: str, lineno: int, *, positive: bool = False) -> int:
    t = text.strip()
    if not _INT.fullmatch(t):
        raise PabulibError(f"{what} must be an integer, got {text!r}", lineno)
    value = int(t.split(".")[0])
    if positive and value <= 0:
        raise PabulibError(f"{what} must be a positive integer, got {text!r}", lineno)
    return value


def _locate(lines: list[str]) -> dict[str, int]:
    """Index of each section line (a section name alone on its line, outside quotes), checked."""
    where: dict[str, int] = {}
    first = next((k for k, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise PabulibError("the file is empty (expected META, PROJECTS and VOTES sections)")
    if lines[first].strip().upper() != "META":
        raise PabulibError(f"expected the META section, found {lines[first][:40]!r}", first + 1)
    in_quote = False
    opened = 0
    for k, line in enumerate(lines):
        if '"' in line and line.count('"') % 2:
            in_quote = not in_quote
            opened = k
        if len(line) > 12 or in_quote or ";" in line:
            continue
        name = line.strip().upper()
        if name in SECTIONS:
            if name in where:
                raise PabulibError(f"section {name} appears twice", k + 1)
            where[name] = k
    if in_quote:
        raise PabulibError("unclosed quote", opened + 1)
    for name in SECTIONS:
        if name not in where:
            raise PabulibError(f"missing section {name}")
    if not where["META"] < where["PROJECTS"] < where["VOTES"]:
        raise PabulibError("sections must come in the order META, PROJECTS, VOTES", where["VOTES"] + 1)
    return where


def parse(text: str) -> Election:
    """Parse the text of a .pb file. Raises PabulibError on anything malformed."""
    if text.startswith("\ufeff"):
        text = text[1:]
    fast = _parse_fast(_text_blocks(text))
    return fast if fast is not None else _parse_lines(text)


def _parse_lines(text: str) -> Election:
    """The line-by-line parser: every check in file order, so the first fault is the one reported. Used for
    files the fast path declines (quotes or odd spacing in VOTES) and to name the fault of a malformed one."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    where = _locate(lines)
    meta = _parse_meta(lines, where["META"], where["PROJECTS"])
    projects, project_columns = _parse_projects(lines, where["PROJECTS"], where["VOTES"])
    instance = Instance(meta=meta, projects=projects, project_columns=project_columns)
    # The cyclic GC would rescan the growing list of ballots many times while it is built (a third of the
    # time on a 90,000-voter file); ballots hold no reference cycles, so pause it for this section.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        profile = _parse_votes(lines, where["VOTES"], len(lines), instance)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Election(instance=instance, profile=profile)


def _parse_meta(lines: list[str], sec: int, stop: int) -> dict[str, str]:
    cols = _header(lines, sec + 1, "META", ("key", "value"))
    if cols[:2] != ["key", "value"]:
        raise PabulibError(f"META header must be 'key;value', found {';'.join(cols)!r}", sec + 2)
    meta: dict[str, str] = {}
    meta_line: dict[str, int] = {}
    for lineno, fields in _split_rows(lines, sec + 2, stop):
        if len(fields) < 2:
            raise PabulibError(f"META line must be 'key;value', found {lines[lineno - 1][:60]!r}", lineno)
        key = fields[0].strip()
        # A value with an unquoted ';' (seen in free-text comments) is kept whole.
        value = ";".join(fields[1:])
        if key in meta:
            raise PabulibError(f"META key {key!r} appears twice", lineno)
        meta[key] = value
        meta_line[key] = lineno
    if "budget" not in meta:
        raise PabulibError("META has no 'budget'", sec + 1)
    _to_int(meta["budget"], "budget", meta_line["budget"], positive=True)
    vote_type = meta.get("vote_type", "approval").strip()
    if vote_type not in VOTE_TYPES:
        raise PabulibError(
            f"unknown vote_type {vote_type!r} (expected one of {', '.join(VOTE_TYPES)})",
            meta_line.get("vote_type"),
        )
    for key in (
        "min_length",
        "max_length",
        "min_sum_points",
        "max_sum_points",
        "min_points",
        "max_points",
        "min_sum_cost",
        "max_sum_cost",
        "min_project_score_threshold",
    ):
        if key in meta and meta[key].strip() != "":
            _to_int(meta[key], key, meta_line[key])
    return meta


def _parse_projects(lines: list[str], sec: int, stop: int) -> tuple[dict[str, Project], list[str]]:
    cols = _header(lines, sec + 1, "PROJECTS", ("project_id", "cost"))
    i_id, i_cost = cols.index("project_id"), cols.index("cost")
    i_name = cols.index("name") if "name" in cols else None
    others = [(k, c) for k, c in enumerate(cols) if k not in (i_id, i_cost, i_name)]
    projects: dict[str, Project] = {}
    n = len(cols)
    for lineno, fields in _split_rows(lines, sec + 2, stop):
        if len(fields) != n:
            raise PabulibError(f"PROJECTS row has {len(fields)} fields, the header has {n}", lineno)
        pid = fields[i_id].strip()
        if not pid:
            raise PabulibError("empty project_id", lineno)
        if pid in projects:
            raise PabulibError(f"duplicate project id {pid!r}", lineno)
        raw = fields[i_cost].strip()
        if not _POS_INT.fullmatch(raw) or int(raw) <= 0:
            raise PabulibError(f"cost of project {pid!r} must be a positive integer, got {raw!r}", lineno)
        projects[pid] = Project(
            id=pid,
            cost=int(raw),
            name=fields[i_name] if i_name is not None else "",
            extra={c: fields[k] for k, c in others},
        )
    if not projects:
        raise PabulibError("PROJECTS section has no projects", sec + 1)
    return projects, cols


def _limit(instance: Instance, key: str) -> int | None:
    return instance.meta_int(key)


def _parse_votes(lines: list[str], sec: int, stop: int, instance: Instance) -> Profile:
    cols = _header(lines, sec + 1, "VOTES", ("voter_id", "vote"))
    vote_type = instance.vote_type
    i_voter, i_vote = cols.index("voter_id"), cols.index("vote")
    i_points = cols.index("points") if "points" in cols else None
    if vote_type in ("cumulative", "scoring") and i_points is None:
        raise PabulibError(f"{vote_type} ballots need a 'points' column in VOTES", sec + 2)
    skip = {i_voter, i_vote} | ({i_points} if i_points is not None else set())
    others = [(k, c) for k, c in enumerate(cols) if k not in skip]
    n = len(cols)
    known = instance.projects
    cost = {pid: p.cost for pid, p in known.items()}
    min_len, max_len = _limit(instance, "min_length"), _limit(instance, "max_length")
    min_sum, max_sum = _limit(instance, "min_sum_points"), _limit(instance, "max_sum_points")
    min_pts, max_pts = _limit(instance, "min_points"), _limit(instance, "max_points")
    max_cost = _limit(instance, "max_sum_cost")
    if vote_type == "choose-1":
        max_len = 1 if max_len is None else min(max_len, 1)
    lo = min_len or 0
    hi = max_len if max_len is not None else len(known)
    known_ids = frozenset(known)
    extra_names = tuple(c for _, c in others)
    pick_extra = itemgetter(*(k for k, _ in others)) if len(others) > 1 else None
    seen: set[str] = set()
    ballots: list[Ballot] = []
    append = ballots.append
    for lineno, fields in _split_rows(lines, sec + 2, stop):
        if len(fields) != n:
            raise PabulibError(f"VOTES row has {len(fields)} fields, the header has {n}", lineno)
        voter = fields[i_voter].strip()
        if not voter or voter in seen:
            raise PabulibError("empty voter_id" if not voter else f"duplicate voter id {voter!r}", lineno)
        seen.add(voter)
        raw = fields[i_vote]
        if raw and not raw.isspace():
            projects = (
                tuple(raw.split(",")) if " " not in raw else tuple(p.strip() for p in raw.strip().split(","))
            )
        else:
            projects = ()
        # Fast check; the slow path names the exact fault.
        as_set = set(projects)
        if not (lo <= len(projects) <= hi and len(as_set) == len(projects) and as_set <= known_ids):
            _ballot_fault(voter, raw, projects, min_len, max_len, known, lineno)
        if max_cost is not None and sum(cost[p] for p in projects) > max_cost:
            raise PabulibError(
                f"voter {voter!r} chose projects costing {sum(cost[p] for p in projects)}, "
                f"more than max_sum_cost {max_cost}",
                lineno,
            )
        points = None
        if i_points is not None:
            rawp = fields[i_points].strip()
            if rawp or vote_type in ("cumulative", "scoring"):
                points = _parse_points(rawp, voter, projects, lineno)
                total = sum(points)
                if max_sum is not None and total > max_sum:
                    raise PabulibError(
                        f"voter {voter!r} gives {total} points, more than max_sum_points {max_sum}", lineno
                    )
                if min_sum is not None and total < min_sum:
                    raise PabulibError(
                        f"voter {voter!r} gives {total} points, fewer than min_sum_points {min_sum}", lineno
                    )
                for p, v in zip(projects, points, strict=True):
                    if max_pts is not None and v > max_pts:
                        raise PabulibError(
                            f"voter {voter!r} gives {v} points to {p!r}, more than max_points {max_pts}",
                            lineno,
                        )
                    if min_pts is not None and v < min_pts:
                        raise PabulibError(
                            f"voter {voter!r} gives {v} points to {p!r}, fewer than min_points {min_pts}",
                            lineno,
                        )
        if pick_extra is not None:
            extra = dict(zip(extra_names, pick_extra(fields), strict=True))
        elif others:
            extra = {extra_names[0]: fields[others[0][0]]}
        else:
            extra = {}
        append(Ballot(voter, projects, points, extra))
    return Profile(vote_type=vote_type, ballots=ballots, voter_columns=cols)


def _ballot_fault(
    voter: str,
    raw: str,
    projects: tuple[str, ...],
    min_len: int | None,
    max_len: int | None,
    known: Mapping[str, Project],
    lineno: int,
) -> None:
    for k, p in enumerate(projects):
        if p in projects[:k]:
            raise PabulibError(f"voter {voter!r} lists project {p!r} twice", lineno)
    for p in projects:
        if p not in known:
            if p == "":
                raise PabulibError(f"voter {voter!r}: empty project id in vote {raw.strip()!r}", lineno)
            raise PabulibError(f"voter {voter!r} votes for unknown project {p!r}", lineno)
    if max_len is not None and len(projects) > max_len:
        raise PabulibError(
            f"voter {voter!r} chose {len(projects)} projects, more than max_length {max_len}", lineno
        )
    if min_len is not None and len(projects) < min_len:
        raise PabulibError(
            f"voter {voter!r} chose {len(projects)} projects, fewer than min_length {min_len}", lineno
        )
    raise AssertionError("unreachable: the fast check failed without a fault")  # pragma: no cover


def _parse_points(raw: str, voter: str, projects: tuple[str, ...], lineno: int) -> tuple[int, ...]:
    parts = [p.strip() for p in raw.split(",")] if raw else []
    if len(parts) != len(projects):
        raise PabulibError(
            f"voter {voter!r} has {len(projects)} projects but {len(parts)} points values", lineno
        )
    out = []
    for p in parts:
        if not _INT.fullmatch(p):
            raise PabulibError(f"voter {voter!r}: bad points value {p!r} (expected an integer)", lineno)
        v = int(p.split(".")[0])
        if v < 0:
            raise PabulibError(f"voter {voter!r}: negative points value {p!r}", lineno)
        out.append(v)
    return tuple(out)


# ------------------------------------------------------------------------------------------- fast reading
#
# The file is read in blocks of whole lines and the VOTES section is checked and stored a block at a time,
# column-wise: project ids become indices (CSR arrays), voter ids integers (or one string with offsets), the
# other columns their text joined by newlines. Nothing per voter is kept as a Python object, so memory stays
# near the size of the file and the work is done by C loops (NumPy on the block's bytes when the block is
# plain, else str.split and map: `_VotesBuilder.add_block`).
#
# The fast path accepts exactly what the line-by-line parser accepts and gives the same election: any doubt
# (a quote or a blank line in VOTES, spaces around ids, a fault of any kind) makes it decline, and the
# line-by-line parser reads the file again, so a malformed file still gets its one error naming the line.

_BLOCK = 1 << 17  # characters read at a time: large enough for C loops to dominate, small for memory


def _block_size(size: int) -> int:
    # A block costs about 30 bytes per character while it is split; a sixteenth of a small file keeps that
    # under twice the file size.
    return max(min(_BLOCK, size // 16), min(_BLOCK, 4096))


class _Decline(Exception):
    """The fast path cannot vouch for this input; the line-by-line parser decides."""


def _file_blocks(f: io.BufferedIOBase, size: int) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines (the last may lack its newline), without a UTF-8 BOM."""
    block = _block_size(size)
    rest = b""
    first = True
    while chunk := f.read(block):
        if first:
            first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        if rest:
            chunk = rest + chunk
        cut = chunk.rfind(b"\n") + 1
        rest = chunk[cut:]
        if cut:
            yield chunk[:cut]
    if rest:
        yield rest


def _text_blocks(text: str) -> Iterator[bytes]:
    """The text's UTF-8 bytes in blocks of whole lines, as `_file_blocks` gives a file's."""
    data = text.encode()
    start, end = 0, len(data)
    block = _block_size(end)
    while start < end:
        cut = data.find(b"\n", min(start + block, end))
        stop = end if cut < 0 else cut + 1
        yield data[start:stop]
        start = stop


def _parse_fast(blocks: Iterable[bytes]) -> Election | None:
    """The election, or None when the line-by-line parser must decide (see above)."""
    try:
        return _fast(blocks)
    except (_Decline, PabulibError, KeyError, ValueError, OverflowError):
        return None


def _fast(blocks: Iterable[bytes]) -> Election:
    blocks = iter(blocks)
    head: list[str] = []
    rest = b""  # what follows the VOTES header line in the block that holds it
    in_quote = False
    at_header = False
    for block in blocks:  # META and PROJECTS (small): up to the VOTES line, then its header line
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        start, end = 0, len(block)
        while start < end:
            stop = block.find(b"\n", start)
            if stop < 0:
                stop = end
            line = block[start:stop].decode()  # a bad byte: UnicodeDecodeError, a ValueError (declined)
            start = stop + 1
            head.append(line)
            if at_header:
                rest = block[start:]
                break
            if '"' in line and line.count('"') % 2:
                in_quote = not in_quote
            if not in_quote and len(line) <= 12 and ";" not in line and line.strip().upper() == "VOTES":
                at_header = True
        else:
            continue
        break
    else:
        raise _Decline
    where = _locate(head)
    meta = _parse_meta(head, where["META"], where["PROJECTS"])
    projects, project_columns = _parse_projects(head, where["PROJECTS"], where["VOTES"])
    instance = Instance(meta=meta, projects=projects, project_columns=project_columns)
    cols = _header(head, where["VOTES"] + 1, "VOTES", ("voter_id", "vote"))
    del head
    votes = _VotesBuilder(instance, cols)
    votes.add_block(rest)
    del rest
    for block in blocks:
        votes.add_block(block)
    return Election(instance=instance, profile=votes.profile())


class _VotesBuilder:
    """The VOTES section, checked and stored a block of lines at a time (see BallotTable)."""

    def __init__(self, instance: Instance, cols: list[str]):
        self.cols = cols
        self.vote_type = vt = instance.vote_type
        self.n = len(cols)
        self.i_voter, self.i_vote = cols.index("voter_id"), cols.index("vote")
        self.i_points = cols.index("points") if "points" in cols else None
        if vt in ("cumulative", "scoring") and self.i_points is None:
            raise _Decline
        skip = {self.i_voter, self.i_vote, self.i_points}
        self.others = [(k, c) for k, c in enumerate(cols) if k not in skip]
        self.ids = list(instance.projects)
        self.P = len(self.ids)
        # "" maps to P: an empty vote is one empty token, legal only when it is the whole vote.
        self.index = {pid: k for k, pid in enumerate(self.ids)}
        self.index[""] = self.P
        self.costs = np.asarray([p.cost for p in instance.projects.values()] + [0], dtype=object)
        lim = instance.meta_int
        self.max_cost = lim("max_sum_cost")
        if self.max_cost is not None and sum(p.cost for p in instance.projects.values()) < 2**62:
            self.costs = self.costs.astype(np.int64)
        min_len, max_len = lim("min_length"), lim("max_length")
        if vt == "choose-1":
            max_len = 1 if max_len is None else min(max_len, 1)
        self.lo = min_len or 0
        self.hi = max_len if max_len is not None else self.P
        self.min_sum, self.max_sum = lim("min_sum_points"), lim("max_sum_points")
        self.min_pts, self.max_pts = lim("min_points"), lim("max_points")
        self.int_ids = True
        self.vints: list[np.ndarray] = []
        self.vtext: list[bytes] = []
        self.vhash: list[np.ndarray] = []
        self.lens: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.has: list[np.ndarray] = []
        self.extra: list[list[bytes]] = [[] for _ in self.others]
        self.keys = _ProjectKeys.of(self.ids) if self.i_points is None else None

    def add_block(self, block: bytes) -> None:
        """Whole lines of VOTES in UTF-8 (the last one may lack its newline): read from the bytes when the
        block is plain (`_add_bytes`), else decoded and line by line (`add`). Decoding checks the UTF-8
        either way (a bad byte raises UnicodeDecodeError, a ValueError: the fast path declines)."""
        if not block:
            return
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        text = None if block.isascii() else block.decode()
        if self.keys is not None and self.int_ids and self._add_bytes(block):
            return
        lines = (block.decode() if text is None else text).split("\n")
        if block.endswith(b"\n"):
            lines.pop()
        self.add(lines)

    def _add_bytes(self, b: bytes) -> bool:
        """`add` for a plain block, on its UTF-8 bytes with NumPy: False (nothing stored) unless every line
        has the header's number of fields, every voter id is a canonical decimal integer of at most 18
        digits and every vote token is a project id or the empty vote, with no quote or NUL byte; then
        `add` would store exactly the same arrays and bytes, which is what this stores. Approval, choose-1
        and ordinal files without a points column (the rest go line by line)."""
        if b[-1:] != b"\n":
            b += b"\n"
        if b'"' in b or b"\0" in b:
            return False
        a = np.frombuffer(b, np.uint8)
        n = self.n
        # every ";", newline and comma, in one pass: field ends (";" or the newline) and commas
        at = np.flatnonzero((a == 59) | (a == 10) | (a == 44))
        mark = a[at]
        ends_field = mark != 44
        delim = at[ends_field]
        L = len(delim) // n
        if L * n != len(delim) or int(np.count_nonzero(mark == 10)) != L:
            return False
        ends = delim.reshape(L, n)
        if not (a[ends[:, -1]] == 10).all():  # so every line has exactly n fields
            return False
        starts = np.empty_like(ends)
        starts[:, 1:] = ends[:, :-1] + 1
        starts[0, 0] = 0
        starts[1:, 0] = ends[:-1, -1] + 1
        padded = b + bytes(24)
        ints = _decimal_ids(padded, starts[:, self.i_voter], ends[:, self.i_voter])
        if ints is None:
            return False
        ts, te = starts[:, self.i_vote], ends[:, self.i_vote]
        # a comma after k field ends lies in field k % n of line k // n: keep those of the votes
        is_comma = ~ends_field
        k = np.cumsum(ends_field)[is_comma]
        line, field = np.divmod(k, n)
        in_vote = field == self.i_vote
        comma, line = at[is_comma][in_vote], line[in_vote]
        lens = np.bincount(line, minlength=L) + 1  # tokens per vote, as str.count(",") + 1
        # token k of the block: its first byte and the byte after it, votes in order
        last = np.cumsum(lens) - 1
        first = last - lens + 1
        tok_s = np.empty(len(comma) + L, dtype=np.int64)
        tok_e = np.empty_like(tok_s)
        inner = np.ones(len(tok_s), dtype=bool)
        inner[first] = False
        tok_s[first] = ts
        tok_s[inner] = comma + 1
        inner[first] = True
        inner[last] = False
        tok_e[last] = te
        tok_e[inner] = comma
        codes = self.keys.codes(padded, len(b), tok_s, tok_e - tok_s)
        if codes is None:
            return False
        lens, codes = self._check_votes(lens, codes, L)
        extra = _columns_bytes(a, starts, ends, [k for k, _ in self.others])
        self.vints.append(ints)
        for parts, text in zip(self.extra, extra, strict=True):
            parts.append(text)
        self.lens.append(lens)
        self.codes.append(codes)
        return True

    def add(self, lines: list[str]) -> None:
        if not lines:
            return
        n1 = self.n - 1
        if set(map(str.count, lines, repeat(";"))) != {n1}:
            lines = [line for line in lines if line.strip()]  # blank lines are skipped, as line by line
            if not lines:
                return
            if set(map(str.count, lines, repeat(";"))) != {n1}:
                raise _Decline
        text = ";".join(lines)
        if '"' in text:
            raise _Decline
        fields = text.split(";")
        del text
        L = len(lines)
        n = self.n
        self._voters(list(map(str.strip, fields[self.i_voter :: n])), L)
        lens, codes = self._votes(fields[self.i_vote :: n], L)
        if self.i_points is not None:
            self._points(list(map(str.strip, fields[self.i_points :: n])), lens, L)
        for j, (k, _) in enumerate(self.others):
            self.extra[j].append("\n".join(fields[k::n]).encode())
        self.lens.append(lens)
        self.codes.append(codes)

    def _voters(self, vid: list[str], L: int) -> None:
        if "" in vid:
            raise _Decline
        if self.int_ids:
            try:
                ints = np.fromiter(map(int, vid), np.int64, L)
                if list(map(str, ints.tolist())) != vid:
                    raise ValueError
            except (ValueError, OverflowError):
                self.int_ids = False
                for arr in self.vints:
                    self._text_ids(list(map(str, arr.tolist())))
                self.vints = []
            else:
                self.vints.append(ints)
                return
        self._text_ids(vid)

    def _text_ids(self, vid: list[str]) -> None:
        L = len(vid)
        self.vtext.append("\n".join(vid).encode())
        # Equal hashes are checked at the end; a collision only sends the file to the line-by-line parser.
        self.vhash.append(np.fromiter(map(hash, vid), np.int64, L))

    def _votes(self, votes: list[str], L: int) -> tuple[np.ndarray, np.ndarray]:
        lens = np.fromiter(map(str.count, votes, repeat(",")), np.int64, L)
        lens += 1
        toks = ",".join(votes).split(",")
        codes = np.fromiter(map(self.index.__getitem__, toks), np.int32, len(toks))
        return self._check_votes(lens, codes, L)

    def _check_votes(self, lens: np.ndarray, codes: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
        """lens: tokens per vote; codes: per token the project index, P for an empty token."""
        empty = np.flatnonzero(codes == self.P)
        if len(empty):
            rows = np.searchsorted(np.cumsum(lens), empty, side="right")
            if (lens[rows] != 1).any():
                raise _Decline  # an empty id inside a vote
            lens[rows] = 0
            codes = np.delete(codes, empty)
        if L and (lens.min() < self.lo or lens.max() > self.hi):
            raise _Decline
        ends = np.cumsum(lens)
        starts = ends - lens
        if L and lens.max() > 1:
            # A project twice on one ballot: the ballot's projects as bits (64 projects a word) set fewer
            # bits than it lists projects. (A shift by 64 or more, a project of another word, gives 0.)
            listed = lens > 0
            at = starts[listed]  # where each non-empty ballot starts (ascending)
            code = codes.astype(np.uint64)
            bits = np.zeros(len(at), dtype=np.int64)
            for w in range(0, self.P, 64):
                word = np.left_shift(np.uint64(1), code - np.uint64(w) if w else code)
                bits += np.bitwise_count(np.bitwise_or.reduceat(word, at))
            if (bits != lens[listed]).any():
                raise _Decline
        if self.max_cost is not None:
            csum = np.concatenate(([0], np.cumsum(self.costs[codes])))
            if (csum[ends] - csum[starts] > self.max_cost).any():
                raise _Decline
        return lens, codes

    def _points(self, raw: list[str], lens: np.ndarray, L: int) -> None:
        pl = np.fromiter(map(str.count, raw, repeat(",")), np.int64, L)
        pl += 1
        filled = np.fromiter(map(bool, raw), bool, L)
        pl[~filled] = 0
        # cumulative / scoring: an empty points field is an empty list; ordinal: points optional per ballot
        has = np.ones(L, dtype=bool) if self.vote_type in ("cumulative", "scoring") else filled
        if (pl[has] != lens[has]).any():
            raise _Decline
        count = int(pl.sum())
        toks = ",".join(filter(None, raw)).split(",") if count else []
        if "".join(toks).isdecimal() and "" not in toks:
            vals = np.fromiter(map(int, toks), np.int64, count)
        else:
            out = []
            for t in toks:
                t = t.strip()
                if not _INT.fullmatch(t) or int(t.split(".")[0]) < 0:
                    raise _Decline
                out.append(int(t.split(".")[0]))
            vals = np.asarray(out, dtype=np.int64).reshape(-1)
        mask = np.repeat(has, lens)
        full = np.zeros(int(lens.sum()), dtype=np.int64)
        full[mask] = vals
        csum = np.concatenate(([0], np.cumsum(full)))
        ends = np.cumsum(lens)
        sums = (csum[ends] - csum[ends - lens])[has]
        if self.max_sum is not None and (sums > self.max_sum).any():
            raise _Decline
        if self.min_sum is not None and (sums < self.min_sum).any():
            raise _Decline
        if self.max_pts is not None and (vals > self.max_pts).any():
            raise _Decline
        if self.min_pts is not None and (vals < self.min_pts).any():
            raise _Decline
        self.points.append(full)
        self.has.append(has)

    def profile(self) -> Profile:
        lens = np.concatenate([np.zeros(1, np.int64), *self.lens])
        ptr = np.cumsum(lens)
        flat = np.concatenate([np.zeros(0, np.int32), *self.codes])
        flat = flat.astype(np.int16 if self.P < 2**15 else np.int32)
        if self.int_ids:
            ids = np.concatenate([np.zeros(0, np.int64), *self.vints])
            keys = ids
        else:
            ids = None
            keys = np.concatenate([np.zeros(0, np.int64), *self.vhash])
        s = np.sort(keys)
        if (s[1:] == s[:-1]).any():
            raise _Decline  # a repeated voter id (or a hash collision): the line-by-line parser decides
        del s, keys
        points = has = None
        if self.i_points is not None and self.points:
            has = np.concatenate(self.has)
            if has.any():
                points = np.concatenate(self.points)
                has = None if has.all() else has
            else:
                has = None
        table = BallotTable(
            project_ids=self.ids,
            ptr=ptr,
            flat=flat,
            points=points,
            has_points=has,
            voter_ints=ids,
            voter_text=b"\n".join(self.vtext),
            extra=[
                (name, b"\n".join(parts)) for (_, name), parts in zip(self.others, self.extra, strict=True)
            ],
        )
        return Profile(vote_type=self.vote_type, ballots=table, voter_columns=self.cols)


def _decimal_ids(padded: bytes, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """The integers written in padded[start[i]:end[i]], or None unless each is canonical: 1 to 18 ASCII
    digits, no leading zero (what `int` then `str` gives back unchanged). padded: the bytes of the block
    followed by at least 18 more."""
    width = end - start
    D = int(width.max())
    if int(width.min()) < 1 or D > 18:
        return None
    a = np.frombuffer(padded, np.uint8)
    value = np.zeros(len(start), dtype=np.int64)
    for j in range(D):  # digit j of every id at once
        digit = a[start + j] - np.uint8(48)  # digits become 0..9, every other byte more (uint8 wraps)
        if j == 0:
            if ((digit == 0) & (width > 1)).any():
                return None
            live = None
        else:
            live = width > j
            digit[~live] = 0
        if (digit > 9).any():
            return None
        value *= 10
        value += digit
        if live is not None and not live.all():
            value[~live] //= 10  # an id shorter than j + 1 digits: undo the shift (its digit was 0)
    return value


def _columns_bytes(a: np.ndarray, starts: np.ndarray, ends: np.ndarray, cols: list[int]) -> list[bytes]:
    """Per column k of `cols`: the fields a[starts[i, k]:ends[i, k]] of every line i joined by newlines
    (each end is the field's delimiter), all columns gathered at once."""
    if not cols:
        return []
    start = starts[:, cols].T.ravel()  # column by column, each in line order
    width = ends[:, cols].T.ravel() - start + 1  # with its delimiter, which becomes the newline
    stop = np.cumsum(width)
    # where to read each byte: consecutive within a field, a jump to the next field's start (cumsum of
    # the steps, rather than np.repeat, which copies element by element)
    step = np.ones(int(stop[-1]), dtype=np.int64)
    step[0] = start[0]
    step[stop[:-1]] = start[1:] - (start[:-1] + width[:-1] - 1)
    picked = a[np.cumsum(step, out=step)]
    picked[stop - 1] = 10
    data = picked.tobytes()
    L = len(starts)
    out = []
    prev = 0
    for end in stop[L - 1 :: L].tolist():
        out.append(data[prev : end - 1])
        prev = end
    return out


class _ProjectKeys:
    """Vote tokens to project indices in bytes: a project id of at most 8 UTF-8 bytes read as a
    little-endian integer (the key), found by a perfect hash of the keys (a multiplier with no collision
    among the projects) and confirmed by comparing keys. With no NUL byte in the block, equal keys mean equal
    bytes, so a token gets the index of the id it spells, as the dict lookup of `_votes` does."""

    def __init__(self, keys: np.ndarray, mult: np.uint64, shift: np.uint64, table: np.ndarray):
        self.keys = np.concatenate((keys, np.zeros(1, np.uint64)))  # index P: no project there
        self.mult, self.shift, self.table = mult, shift, table
        self.P = len(keys)
        self.widest = 8
        self.masks = np.asarray([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)

    @classmethod
    def of(cls, ids: list[str]) -> _ProjectKeys | None:
        raw = [p.encode() for p in ids]
        if not raw or any(not 0 < len(r) <= 8 or any(ch in r for ch in b'\0,;\n\r"') for r in raw):
            return None
        keys = np.asarray([int.from_bytes(r, "little") for r in raw], dtype=np.uint64)
        bits = max(10, 2 * len(keys).bit_length() + 1)
        if bits > 22:
            return None
        shift = np.uint64(64 - bits)
        for k in range(64):
            mult = np.uint64((0x9E3779B97F4A7C15 * (2 * k + 1)) % 2**64 | 1)
            slots = (keys * mult) >> shift
            ordered = np.sort(slots)
            if not (ordered[1:] == ordered[:-1]).any():
                table = np.full(1 << bits, len(keys), dtype=np.int32)
                table[slots] = np.arange(len(keys), dtype=np.int32)
                out = cls(keys, mult, shift, table)
                out.widest = max(map(len, raw))
                return out
        return None

    def codes(self, padded: bytes, size: int, start: np.ndarray, width: np.ndarray) -> np.ndarray | None:
        """Per token padded[start:start + width]: the project index, P for an empty token; None if a
        token is not a project id. padded: `size` bytes and at least 8 more."""
        if len(width) and int(width.max()) > self.widest:
            return None
        a = np.frombuffer(padded, np.uint8)
        key = a[start].astype(np.uint64)  # little-endian: byte j of the id is bits 8j..8j+7 of its key
        for j in range(1, self.widest):
            key |= a[start + j].astype(np.uint64) << np.uint64(8 * j)
        key &= self.masks[width]
        codes = self.table[(key * self.mult) >> self.shift]
        empty = width == 0
        codes[empty] = self.P
        if not ((self.keys[codes] == key) | empty).all():
            return None
        return codes


# ------------------------------------------------------------------------------------------------- writing


def _row(fields: Sequence[str]) -> str:
    if any(('"' in f or ";" in f or "\n" in f or "\r" in f) for f in fields):
        buf = io.StringIO()
        csv.writer(buf, delimiter=";", lineterminator="", quoting=csv.QUOTE_MINIMAL).writerow(fields)
        return buf.getvalue()
    return ";".join(fields)


def write(election: Election) -> str:
    """The .pb text of an election (LF line ends, UTF-8 without BOM when saved by write_file)."""
    inst, prof = election.instance, election.profile
    out: list[str] = ["META", "key;value"]
    out.extend(_row([k, str(v)]) for k, v in inst.meta.items())

    pcols = list(inst.project_columns) or _default_project_columns(inst.projects.values())
    out.append("PROJECTS")
    out.append(_row(pcols))
    for p in inst.projects.values():
        out.append(_row([_project_field(p, c) for c in pcols]))

    vcols = list(prof.voter_columns) or _default_voter_columns(prof.ballots, prof.vote_type)
    out.append("VOTES")
    out.append(_row(vcols))
    for b in prof.ballots:
        out.append(_row([_ballot_field(b, c) for c in vcols]))
    return "\n".join(out) + "\n"


def write_file(election: Election, path: str | os.PathLike) -> None:
    Path(path).write_text(write(election), encoding="utf-8", newline="\n")


def _default_project_columns(projects: Iterable[Project]) -> list[str]:
    cols = ["project_id", "cost", "name"]
    for p in projects:
        cols.extend(k for k in p.extra if k not in cols)
    return cols


def _default_voter_columns(ballots: Iterable[Ballot], vote_type: str) -> list[str]:
    cols = ["voter_id", "vote"]
    ballots = list(ballots)
    if vote_type in ("cumulative", "scoring") or any(b.points is not None for b in ballots):
        cols.append("points")
    for b in ballots:
        cols.extend(k for k in b.extra if k not in cols)
    return cols


def _project_field(p: Project, col: str) -> str:
    if col == "project_id":
        return p.id
    if col == "cost":
        return str(p.cost)
    if col == "name":
        return p.name
    return str(p.extra.get(col, ""))


def _ballot_field(b: Ballot, col: str) -> str:
    if col == "voter_id":
        return b.voter_id
    if col == "vote":
        return ",".join(b.projects)
    if col == "points":
        return ",".join(map(str, b.points)) if b.points is not None else ""
    return str(b.extra.get(col, ""))


# ------------------------------------------------------------------------------------------------- building


def build(
    *,
    meta: Mapping[str, Any],
    projects: Iterable[Mapping[str, Any]],
    ballots: Iterable[Mapping[str, Any]],
) -> Election:
    """An Election from plain records, checked exactly as a file would be.

    meta:     {"budget": 100000, "vote_type": "approval", "rule": "greedy", ...}; `num_projects`,
              `num_votes` and `vote_type` (approval) are filled in when absent.
    projects: [{"project_id": "1", "cost": 5000, "name": "...", <any other column>: ...}, ...]
    ballots:  [{"voter_id": "v1", "vote": ["1", "3"], "points": [3, 1] (optional), <other>: ...}, ...];
              "vote" may also be a comma string.
    """
    projects = list(projects)
    ballots = list(ballots)
    m = {str(k): _text(v) for k, v in meta.items()}
    m.setdefault("num_projects", str(len(projects)))
    m.setdefault("num_votes", str(len(ballots)))
    m.setdefault("vote_type", "approval")
    pcols = ["project_id", "cost"]
    for p in projects:
        pcols.extend(k for k in p if k not in pcols)
    vcols = ["voter_id", "vote"]
    for b in ballots:
        vcols.extend(k for k in b if k not in vcols)
    lines = ["META", "key;value", *(_row([k, v]) for k, v in m.items()), "PROJECTS", _row(pcols)]
    lines.extend(_row([_text(p.get(c, "")) for c in pcols]) for p in projects)
    lines += ["VOTES", _row(vcols)]
    lines.extend(_row([_text(b.get(c, "")) for c in vcols]) for b in ballots)
    return parse("\n".join(lines) + "\n")


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def official_selected(election: Election) -> list[str] | None:
    """The project ids marked `selected` (1) in PROJECTS: the official outcome, or None if not recorded."""
    if "selected" not in election.instance.project_columns:
        return None
    return [
        pid for pid, p in election.instance.projects.items() if p.extra.get("selected", "").strip() == "1"
    ]
