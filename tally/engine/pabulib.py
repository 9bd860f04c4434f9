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

Speed: the VOTES section is split with `str.split` unless a line contains a quote, so a 90,000-voter file
parses in a fraction of a second; ballots are tuples of project id strings.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from tally.engine.model import VOTE_TYPES, Ballot, Election, Instance, Profile, Project

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
            data = path.read_bytes()
        except FileNotFoundError:
            raise PabulibError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise PabulibError(f"{path}: is a directory, not a .pb file") from None
        except OSError as exc:
            raise PabulibError(f"{path}: cannot read ({exc.strerror})") from None
        return parse(_decode(data, str(path)))
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
        yield lineno, next(csv.reader([line], delimiter=";", strict=True))


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


def parse(text: str) -> Election:
    """Parse the text of a .pb file. Raises PabulibError on anything malformed."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")

    # Locate the three section lines (a section name alone on its line, outside quotes).
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
