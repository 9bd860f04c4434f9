"""The .pb reader and writer: every vote type, quoting, BOM/CRLF, extra columns, and one clear error with its
line number for every kind of malformed file."""

from __future__ import annotations

import numpy as np
import pytest

from tally.engine import pabulib
from tally.engine.model import Ballot, BallotTable
from tally.engine.pabulib import PabulibError
from tests.tally.engine.support import fixture_files, shared_params

APPROVAL = """META
key;value
description;"Test; with a semicolon"
budget;100
vote_type;approval
max_length;2
PROJECTS
project_id;cost;name;category
1;50;A;green
2;60;"B; ""quoted"" name";culture
3;10;C;
VOTES
voter_id;vote;age
v1;1,2;30
v2;2;
v3;;41
"""

CUMULATIVE = """META
key;value
budget;100
vote_type;cumulative
max_sum_points;5
max_points;4
PROJECTS
project_id;cost
1;50
2;60
VOTES
voter_id;vote;points
v1;1,2;3,2
v2;2;4
"""

ORDINAL = """META
key;value
budget;100
vote_type;ordinal
min_length;1
max_length;3
scoring_fn;Borda
PROJECTS
project_id;cost;name;selected
a;50;A;1
b;60;B;0
c;30;C;1
VOTES
voter_id;vote
x;b,a,c
y;a
"""


def same(e1: pabulib.Election, e2: pabulib.Election) -> bool:
    """Instance and profile equal, including the extra columns (which dataclass equality ignores)."""
    i1, i2 = e1.instance, e2.instance
    return (
        i1.meta == i2.meta
        and i1.project_columns == i2.project_columns
        and [(p, p.extra) for p in i1.projects.values()] == [(p, p.extra) for p in i2.projects.values()]
        and e1.profile.vote_type == e2.profile.vote_type
        and e1.profile.voter_columns == e2.profile.voter_columns
        and [(b, b.extra) for b in e1.profile.ballots] == [(b, b.extra) for b in e2.profile.ballots]
    )


def test_approval_file_with_quotes_and_extra_columns():
    e = pabulib.parse(APPROVAL)
    assert e.instance.budget == 100
    assert e.instance.meta["description"] == "Test; with a semicolon"
    assert list(e.instance.projects) == ["1", "2", "3"]
    p2 = e.instance.projects["2"]
    assert (p2.cost, p2.name, p2.extra) == (60, 'B; "quoted" name', {"category": "culture"})
    assert [b.projects for b in e.profile.ballots] == [("1", "2"), ("2",), ()]
    assert [b.extra for b in e.profile.ballots] == [{"age": "30"}, {"age": ""}, {"age": "41"}]
    assert e.profile.ballots[0].points is None
    assert same(pabulib.parse(pabulib.write(e)), e)


def test_bom_and_crlf_give_the_same_election():
    plain = pabulib.parse(APPROVAL)
    variant = "\ufeff" + APPROVAL.replace("\n", "\r\n")
    assert same(pabulib.parse(variant), plain)
    assert same(pabulib.read(variant.encode("utf-8")), plain)


def test_read_from_path(tmp_path):
    path = tmp_path / "x.pb"
    path.write_bytes(("\ufeff" + APPROVAL).encode())
    assert same(pabulib.read(path), pabulib.parse(APPROVAL))
    assert same(pabulib.read(str(path)), pabulib.parse(APPROVAL))


def test_quoted_field_spanning_lines_round_trips():
    text = APPROVAL.replace("1;50;A;green", '1;50;"A\nsecond line";green')
    e = pabulib.parse(text)
    assert e.instance.projects["1"].name == "A\nsecond line"
    # the error line numbers after it still count physical lines
    bad = text.replace("v2;2;", "v2;9;")
    with pytest.raises(PabulibError, match=r"^line 16: voter 'v2' votes for unknown project '9'"):
        pabulib.parse(bad)
    assert same(pabulib.parse(pabulib.write(e)), e)


def test_cumulative_points():
    e = pabulib.parse(CUMULATIVE)
    assert [(b.projects, b.points) for b in e.profile.ballots] == [(("1", "2"), (3, 2)), (("2",), (4,))]
    assert same(pabulib.parse(pabulib.write(e)), e)


def test_scoring_points_accept_integral_floats():
    e = pabulib.parse(CUMULATIVE.replace("cumulative", "scoring").replace("v2;2;4", "v2;2;4.0"))
    assert e.profile.ballots[1].points == (4,)


def test_ordinal_keeps_rank_order_and_official_outcome():
    e = pabulib.parse(ORDINAL)
    assert e.profile.ballots[0].projects == ("b", "a", "c")
    assert pabulib.official_selected(e) == ["a", "c"]
    assert pabulib.official_selected(pabulib.parse(APPROVAL)) is None
    assert same(pabulib.parse(pabulib.write(e)), e)


def test_choose_one():
    text = APPROVAL.replace("vote_type;approval", "vote_type;choose-1").replace("v1;1,2;30", "v1;1;30")
    e = pabulib.parse(text)
    assert e.instance.vote_type == "choose-1"
    with pytest.raises(PabulibError, match="more than max_length 1"):
        pabulib.parse(text.replace("v1;1;30", "v1;1,2;30"))


def test_build_from_records_is_validated_and_round_trips():
    e = pabulib.build(
        meta={"budget": 100, "vote_type": "cumulative", "rule": "greedy", "description": "a; b"},
        projects=[{"project_id": "p1", "cost": 40, "name": "One"}, {"project_id": "p2", "cost": 70}],
        ballots=[
            {"voter_id": "b1", "vote": ["p1", "p2"], "points": [2, 1], "channel": "paper"},
            {"voter_id": "b2", "vote": "p2", "points": [3]},
        ],
    )
    assert e.instance.meta["num_projects"] == "2"
    assert e.instance.meta["num_votes"] == "2"
    assert e.profile.ballots[0].extra == {"channel": "paper"}
    assert same(pabulib.parse(pabulib.write(e)), e)
    with pytest.raises(PabulibError, match="unknown project 'p3'"):
        pabulib.build(
            meta={"budget": 100},
            projects=[{"project_id": "p1", "cost": 40}],
            ballots=[{"voter_id": "b1", "vote": ["p3"]}],
        )


def test_write_file(tmp_path):
    e = pabulib.parse(ORDINAL)
    pabulib.write_file(e, tmp_path / "o.pb")
    assert same(pabulib.read(tmp_path / "o.pb"), e)


def _line_of(text: str, fragment: str) -> int:
    return next(k for k, line in enumerate(text.split("\n"), start=1) if fragment in line)


# (name, base text, old, new, expected message (regex after "line N: "), line marker or None)
MALFORMED = [
    ("unknown project", APPROVAL, "v2;2;", "v2;7;", "voter 'v2' votes for unknown project '7'", "v2;7;"),
    ("duplicate voter", APPROVAL, "v2;2;", "v1;2;", "duplicate voter id 'v1'", "v1;2;"),
    ("duplicate project", APPROVAL, "3;10;C;", "1;10;C;", "duplicate project id '1'", "1;10;C;"),
    (
        "zero cost",
        APPROVAL,
        "3;10;C;",
        "3;0;C;",
        "cost of project '3' must be a positive integer, got '0'",
        "3;0;",
    ),
    ("negative cost", APPROVAL, "3;10;C;", "3;-5;C;", "must be a positive integer, got '-5'", "3;-5;"),
    (
        "fractional cost",
        APPROVAL,
        "3;10;C;",
        "3;10.5;C;",
        "must be a positive integer, got '10.5'",
        "3;10.5;",
    ),
    ("text cost", APPROVAL, "3;10;C;", "3;ten;C;", "must be a positive integer, got 'ten'", "3;ten;"),
    (
        "over max_length",
        APPROVAL,
        "v2;2;",
        "v2;1,2,3;",
        "chose 3 projects, more than max_length 2",
        "v2;1,2,3",
    ),
    (
        "under min_length",
        APPROVAL,
        "max_length;2",
        "max_length;2\nmin_length;1",
        "voter 'v3' chose 0 projects, fewer than min_length 1",
        "v3;;41",
    ),
    ("repeated project", APPROVAL, "v2;2;", "v2;2,2;", "voter 'v2' lists project '2' twice", "v2;2,2"),
    ("empty id in vote", APPROVAL, "v2;2;", "v2;2,;", "empty project id", "v2;2,;"),
    ("too many fields", APPROVAL, "v2;2;", "v2;2;;", "VOTES row has 4 fields, the header has 3", "v2;2;;"),
    ("too few fields", APPROVAL, "3;10;C;", "3;10", "PROJECTS row has 2 fields, the header has 4", "3;10"),
    ("empty voter id", APPROVAL, "v2;2;", ";2;", "empty voter_id", ";2;"),
    ("missing budget", APPROVAL, "budget;100\n", "", "META has no 'budget'", None),
    ("budget not integer", APPROVAL, "budget;100", "budget;lots", "budget must be an integer", "budget;lots"),
    ("budget zero", APPROVAL, "budget;100", "budget;0", "budget must be a positive integer", "budget;0"),
    (
        "bad max_length",
        APPROVAL,
        "max_length;2",
        "max_length;two",
        "max_length must be an integer",
        "max_length",
    ),
    (
        "unknown vote type",
        APPROVAL,
        "vote_type;approval",
        "vote_type;quadratic",
        "unknown vote_type",
        "vote_type",
    ),
    (
        "missing VOTES",
        APPROVAL,
        "VOTES\nvoter_id;vote;age\nv1;1,2;30\nv2;2;\nv3;;41\n",
        "",
        "missing section VOTES",
        None,
    ),
    ("missing PROJECTS", APPROVAL, "PROJECTS\n", "", "missing section PROJECTS", None),
    ("no META first", APPROVAL, "META\nkey;value\n", "", "expected the META section", None),
    ("section twice", APPROVAL, "v3;;41\n", "v3;;41\nVOTES\n", "section VOTES appears twice", None),
    ("wrong order", APPROVAL, "PROJECTS", "PROJECTZ", "missing section PROJECTS", None),
    (
        "projects header",
        APPROVAL,
        "project_id;cost;name;category",
        "id;cost;name;category",
        "'project_id' column",
        "id;cost",
    ),
    (
        "votes header",
        APPROVAL,
        "voter_id;vote;age",
        "voter_id;ballot;age",
        "VOTES header must have a 'vote' column",
        "voter_id;ballot",
    ),
    ("meta header", APPROVAL, "key;value", "k;v", "META header must have a 'key' column", "k;v"),
    (
        "no header",
        APPROVAL,
        "voter_id;vote;age\n",
        "",
        "VOTES header must have a 'voter_id' column",
        "v1;1,2;30",
    ),
    (
        "repeated column",
        APPROVAL,
        "voter_id;vote;age",
        "voter_id;vote;vote",
        "repeats the column 'vote'",
        "voter_id;vote;vote",
    ),
    ("unclosed quote", APPROVAL, "3;10;C;", '3;10;"C;', "unclosed quote", '3;10;"C;'),
    (
        "over max_sum_points",
        CUMULATIVE,
        "v2;2;4",
        "v2;1,2;3,3",
        "gives 6 points, more than max_sum_points 5",
        "v2;1,2",
    ),
    (
        "over max_points",
        CUMULATIVE,
        "max_sum_points;5",
        "max_sum_points;9",
        "gives 5 points to '2', more than max_points 4",
        None,
    ),
    ("bad points value", CUMULATIVE, "v2;2;4", "v2;2;x", "voter 'v2': bad points value 'x'", "v2;2;x"),
    ("negative points", CUMULATIVE, "v2;2;4", "v2;2;-1", "negative points value '-1'", "v2;2;-1"),
    ("points count", CUMULATIVE, "v2;2;4", "v2;1,2;4", "has 2 projects but 1 points values", "v2;1,2;4"),
    (
        "points column",
        CUMULATIVE,
        "voter_id;vote;points",
        "voter_id;vote;pts",
        "need a 'points' column",
        None,
    ),
    ("unknown ranked project", ORDINAL, "y;a", "y;z", "voter 'y' votes for unknown project 'z'", "y;z"),
    ("rank repeated", ORDINAL, "y;a", "y;a,a", "lists project 'a' twice", "y;a,a"),
    ("too many ranks", ORDINAL, "y;a", "y;a,b,c,a", "lists project 'a' twice", "y;a,b,c,a"),
]


@pytest.mark.parametrize(
    ("base", "old", "new", "message", "marker"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_file_gives_one_clear_error(base, old, new, message, marker):
    assert old in base
    text = base.replace(old, new, 1)
    if "over max_points" in message or "more than max_points" in message:
        text = text.replace("v2;2;4", "v2;2;5")
        marker = "v2;2;5"
    with pytest.raises(PabulibError) as info:
        pabulib.parse(text)
    msg = str(info.value)
    assert "\n" not in msg
    assert message in msg
    if marker is not None:
        assert msg.startswith(f"line {_line_of(text, marker)}: ")
        assert info.value.line == _line_of(text, marker)


def test_empty_and_non_utf8_input(tmp_path):
    with pytest.raises(PabulibError, match="the file is empty"):
        pabulib.parse("\n\n")
    path = tmp_path / "latin1.pb"
    path.write_bytes(APPROVAL.replace("A;green", "Ä;green").encode("latin-1"))
    with pytest.raises(PabulibError, match=r"^line 9: .*is not UTF-8"):
        pabulib.read(path)
    with pytest.raises(PabulibError, match="no such file"):
        pabulib.read(tmp_path / "missing.pb")


def test_error_is_a_value_error():
    assert issubclass(PabulibError, ValueError)


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_round_trip_fixtures(path):
    e = pabulib.read(path)
    text = pabulib.write(e)
    again = pabulib.parse(text)
    assert same(again, e)
    assert pabulib.write(again) == text  # writing is stable


@pytest.mark.parametrize("path", shared_params())
def test_round_trip_shared_files(path):
    e = pabulib.read(path)
    assert len(e.profile.ballots) == int(e.instance.meta["num_votes"])
    assert len(e.instance.projects) == int(e.instance.meta["num_projects"])
    assert same(pabulib.parse(pabulib.write(e)), e)


# ------------------------------------------------------------------------------- the fast (column) reader


def _both(text: str) -> tuple[pabulib.Election, pabulib.Election]:
    """(what parse gives, what the line-by-line parser gives) for the same text."""
    return pabulib.parse(text), pabulib._parse_lines(text)


@pytest.mark.parametrize("path", [*fixture_files(), *(p.values[0] for p in shared_params() if p.values[0])])
def test_fast_reader_takes_real_files_and_agrees_with_the_line_parser(path):
    fast = pabulib.read(path)
    assert isinstance(fast.profile.ballots, BallotTable)
    slow = pabulib._parse_lines(path.read_text(encoding="utf-8-sig"))
    assert same(fast, slow)
    ptr, flat = fast.profile.ballots.csr()
    ids = list(fast.instance.projects)
    assert [tuple(ids[k] for k in flat[ptr[i] : ptr[i + 1]]) for i in range(len(ptr) - 1)] == [
        b.projects for b in slow.profile.ballots
    ]


ORDINAL_POINTS = ORDINAL.replace("voter_id;vote\nx;b,a,c\ny;a", "voter_id;vote;points\nx;b,a,c;3,2,1\ny;a;")
VARIANTS = [
    ("text voter ids", APPROVAL, "v1;1,2;30", "v1;1,2;30"),
    ("integer voter ids", APPROVAL, "v1;1,2;30\nv2;2;\nv3;;41", "1;1,2;30\n2;2;\n30;;41"),
    ("zero-padded ids stay text", APPROVAL, "v1;1,2;30\nv2;2;\nv3;;41", "1;1,2;30\n02;2;\n3;;41"),
    ("mixed ids", APPROVAL, "v2;2;", "7;2;"),
    ("spaces in the vote", APPROVAL, "v1;1,2;30", "v1; 1, 2 ;30"),
    ("spaces around the voter id", APPROVAL, "v1;1,2;30", " v1 ;1,2;30"),
    ("blank line in VOTES", APPROVAL, "v2;2;\n", "v2;2;\n\n   \n"),
    ("quoted extra field", APPROVAL, "v2;2;", 'v2;2;"4;2"'),
    ("CRLF", APPROVAL.replace("\n", "\r\n"), "v2", "v2"),
    ("lone CR kept in a field", APPROVAL, "v1;1,2;30", "v1;1,2;3\r0"),
    ("no final newline", APPROVAL.rstrip("\n"), "v2", "v2"),
    ("no voters", APPROVAL, "v1;1,2;30\nv2;2;\nv3;;41\n", ""),
    ("cumulative empty vote", CUMULATIVE, "v2;2;4", "v2;2;4\nv3;;"),
    ("float points", CUMULATIVE, "v2;2;4", "v2;2;4.0"),
    ("spaced points", CUMULATIVE, "v1;1,2;3,2", "v1;1,2; 3 , 2"),
    ("ordinal points on some ballots", ORDINAL_POINTS, "y;a;", "y;a;"),
    ("ordinal points on no ballot", ORDINAL_POINTS, "x;b,a,c;3,2,1", "x;b,a,c;"),
    ("ordinal points on every ballot", ORDINAL_POINTS, "y;a;", "y;a;5"),
]


DECLINED = {"spaces in the vote", "quoted extra field"}


@pytest.mark.parametrize(("base", "old", "new"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_fast_reader_agrees_with_the_line_parser(base, old, new, request):
    assert old in base
    fast, slow = _both(base.replace(old, new, 1))
    assert same(fast, slow)
    # the fast path declines only what it cannot vouch for (the line-by-line parser then reads it)
    assert isinstance(fast.profile.ballots, BallotTable) == (request.node.callspec.id not in DECLINED)
    assert same(pabulib.parse(pabulib.write(fast)), fast)


def _many_voters(n: int, *, ids=str, extra: bool = True) -> str:
    rows = [
        f"{ids(i)};{','.join(str(1 + (i + k) % 7) for k in range(i % 4))}" + (f";{i % 90}" if extra else "")
        for i in range(n)
    ]
    head = "META\nkey;value\nbudget;1000\nvote_type;approval\nmax_length;3\nPROJECTS\nproject_id;cost\n"
    head += "".join(f"{p};{100 * p}\n" for p in range(1, 8))
    return head + "VOTES\nvoter_id;vote" + (";age" if extra else "") + "\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("ids", [str, lambda i: f"v{i}"], ids=["integer ids", "text ids"])
def test_fast_reader_across_small_blocks(monkeypatch, ids):
    monkeypatch.setattr(pabulib, "_BLOCK", 97)  # many blocks, lines cut at every possible place
    text = _many_voters(500, ids=ids)
    fast, slow = _both(text)
    assert isinstance(fast.profile.ballots, BallotTable)
    assert same(fast, slow)
    # a fault in a late block: still the line-by-line message and line number
    bad = text.replace(f"\n{ids(450)};", f"\n{ids(450)};9,", 1)
    with pytest.raises(
        PabulibError, match=rf"^line {_line_of(bad, f'{ids(450)};9,')}: .*unknown project '9'"
    ):
        pabulib.parse(bad)


# ------------------------------------------------------------------- VOTES read from bytes (_add_bytes)


def _plain(rows: list[str], *, ids=("1", "2", "12", "ż3"), header="voter_id;vote;age") -> str:
    head = "META\nkey;value\nbudget;1000\nvote_type;approval\nPROJECTS\nproject_id;cost\n"
    head += "".join(f"{p};{10 + k}\n" for k, p in enumerate(ids))
    return head + f"VOTES\n{header}\n" + "\n".join(rows) + "\n"


def _line_reads(monkeypatch) -> list[int]:
    """Count the blocks of VOTES read line by line (the rest are read from bytes)."""
    calls: list[int] = []
    line_by_line = pabulib._VotesBuilder.add

    def add(self, lines):
        calls.append(len(lines))
        return line_by_line(self, lines)

    monkeypatch.setattr(pabulib._VotesBuilder, "add", add)
    return calls


# (name, rows, header, project ids, read from bytes?)
BYTE_CASES = [
    ("plain", ["5;1,12;30", "6;;31", "7;ż3;"], "voter_id;vote;age", None, True),
    ("zero id", ["0;1;3", "10;2;4"], None, None, True),
    ("18 digits", ["123456789012345678;1;3", "9;2;4"], None, None, True),
    ("19 digits", ["1234567890123456789;1;3"], None, None, False),
    ("20 digits", ["12345678901234567890;1;3"], None, None, False),
    ("leading zero", ["007;1;3", "8;2;4"], None, None, False),
    ("plus sign", ["+5;1;3"], None, None, False),
    ("negative id", ["-5;1;3"], None, None, False),
    ("arabic-indic digit", ["٣;1;3"], None, None, False),
    ("space around the id", [" 5;1;3", "6;2;4"], None, None, False),
    ("text id", ["5;1;3", "v6;2;4"], None, None, False),
    ("comma in another column", ["5;1;3,4", "6;2,12;x,y", "7;;,"], None, None, True),
    ("columns in another order", ["30;1,2;5", "31;;6"], "age;vote;voter_id", None, True),
    ("no other column", ["5;1", "6;12,2,1"], "voter_id;vote", None, True),
    ("several other columns", ["5;a;1;;b", "6;;2,12;c;"], "x;y;vote;voter_id;z", None, False),
    ("prefix of an id", ["5;1,12;3", "6;12,1;4"], None, None, True),
    ("unknown project", ["5;13;3"], None, None, False),
    ("token longer than any id", ["5;123456789;3"], None, None, False),
    ("space in the vote", ["5;1, 2;3"], None, None, False),
    ("empty token inside a vote", ["5;1,,2;3"], None, None, True),
    ("trailing comma", ["5;1,;3"], None, None, True),
    ("project twice", ["5;2,1,2;3"], None, None, True),
    ("voter twice", ["5;1;3", "5;2;4"], None, None, True),
    ("too many fields", ["5;1;3;4"], None, None, False),
    ("too few fields", ["5;1"], None, None, False),
    ("NUL byte", ["5;1;3\x00", "6;2;4"], None, None, False),
    ("tab in a field", ["5;1;\t3"], None, None, True),
    ("ids of 8 bytes", ["5;abcdefgh,ż;3"], None, ("abcdefgh", "ż", "b"), True),
    ("an id of 9 bytes", ["5;abcdefghi;3"], None, ("abcdefghi", "b"), False),
    ("an id with a space", ["5;a b;3"], None, ("a b", "b"), True),
    ("lone CR in a field", ["5;1;3\r4", "6;2;4"], None, None, True),
]


@pytest.mark.parametrize(
    ("rows", "header", "ids", "from_bytes"), [c[1:] for c in BYTE_CASES], ids=[c[0] for c in BYTE_CASES]
)
def test_votes_from_bytes_agree_with_the_line_parser(rows, header, ids, from_bytes, monkeypatch):
    text = _plain(rows, **({"header": header} if header else {}), **({"ids": ids} if ids else {}))
    calls = _line_reads(monkeypatch)
    _agrees_with_the_line_parser(text)
    assert (not calls) == from_bytes


def _agrees_with_the_line_parser(text: str) -> None:
    """`parse` gives what the line-by-line parser gives: the same election, or the same error and line."""
    try:
        slow = pabulib._parse_lines(text)
    except PabulibError as exc:
        with pytest.raises(PabulibError) as info:
            pabulib.parse(text)
        assert (str(info.value), info.value.line) == (str(exc), exc.line), text
    else:
        assert same(pabulib.parse(text), slow), text


def test_integer_ids_read_from_bytes_are_the_integers_written():
    rows = [f"{v};{'1' if v % 2 else ''};{v % 7}" for v in (0, 7, 10, 99, 100, 123456789012345678, 40, 5)]
    e = pabulib.parse(_plain(rows))
    assert e.profile.ballots.voter_ints.tolist() == [0, 7, 10, 99, 100, 123456789012345678, 40, 5]
    assert [b.voter_id for b in e.profile.ballots] == [r.split(";")[0] for r in rows]
    assert [b.extra["age"] for b in e.profile.ballots] == [r.split(";")[2] for r in rows]


def test_blocks_from_bytes_and_line_by_line_in_one_file(monkeypatch):
    monkeypatch.setattr(pabulib, "_BLOCK", 97)
    text = _many_voters(600)
    # a block with a blank line and, later, text voter ids: those blocks go line by line, the others not
    lines = text.split("\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("200;"))
    lines.insert(k, " ")
    k = next(i for i, line in enumerate(lines) if line.startswith("450;"))
    lines[k] = "v" + lines[k]
    text = "\n".join(lines)
    calls = _line_reads(monkeypatch)
    fast, slow = _both(text)
    assert isinstance(fast.profile.ballots, BallotTable)
    assert same(fast, slow)
    assert fast.profile.ballots.voter_ints is None  # the integer ids read before turned into text
    n_blocks = len(list(pabulib._text_blocks(text[text.index("VOTES") :])))
    assert 0 < len(calls) < n_blocks - 1


def test_repeated_voter_id_far_apart_names_the_second_line(monkeypatch):
    monkeypatch.setattr(pabulib, "_BLOCK", 64)
    text = _many_voters(300, extra=False)
    bad = text.replace("\n250;", "\n12;", 1)
    second = [k for k, line in enumerate(bad.split("\n"), start=1) if line.startswith("12;")][1]
    with pytest.raises(PabulibError, match=rf"^line {second}: duplicate voter id '12'$"):
        pabulib.parse(bad)


def test_read_file_with_bad_byte_late_in_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(pabulib, "_BLOCK", 64)
    text = _many_voters(200)
    data = text.encode().replace(b"\n150;", b"\n\xff150;", 1)
    path = tmp_path / "bad.pb"
    path.write_bytes(data)
    line = data[: data.index(b"\xff")].count(b"\n") + 1
    with pytest.raises(PabulibError, match=rf"^line {line}: .*is not UTF-8"):
        pabulib.read(path)


def test_ballot_table_is_a_read_only_sequence_of_ballots():
    e = pabulib.parse(APPROVAL)
    table = e.profile.ballots
    assert isinstance(table, BallotTable)
    assert len(table) == 3
    assert table[-1] == Ballot("v3", (), None, {"age": "41"})
    assert table[0:2] == [Ballot("v1", ("1", "2"), None), Ballot("v2", ("2",), None)]
    assert table == list(table) == pabulib._parse_lines(APPROVAL).profile.ballots
    assert [b.extra for b in table] == [{"age": "30"}, {"age": ""}, {"age": "41"}]
    assert table[0].extra is not table[1].extra
    ptr, flat = table.csr()
    assert (ptr.tolist(), flat.tolist()) == ([0, 2, 3, 3], [0, 1, 1])


def _random_file(rng) -> str:
    vote_type = rng.choice(["approval", "choose-1", "cumulative", "scoring", "ordinal"])
    ids = rng.sample(["1", "2", "3", "10", "a", "b7", "x"], rng.randint(1, 6))
    meta = ["META", "key;value", f"budget;{rng.randint(1, 500)}", f"vote_type;{vote_type}"]
    for key in ("min_length", "max_length", "max_sum_points", "min_sum_points", "max_points", "min_points"):
        if rng.random() < 0.25:
            meta.append(f"{key};{rng.randint(0, 6)}")
    if rng.random() < 0.2:
        meta.append(f"max_sum_cost;{rng.randint(50, 400)}")
    rows = ["PROJECTS", "project_id;cost"] + [f"{p};{rng.randint(1, 200)}" for p in ids]
    with_points = vote_type in ("cumulative", "scoring") or rng.random() < 0.3
    extra = rng.random() < 0.5
    rows += ["VOTES", "voter_id;vote" + (";points" if with_points else "") + (";age" if extra else "")]
    voter_ids = [str(i) if rng.random() < 0.9 else f"v{i}" for i in range(rng.randint(0, 12))]
    for v in voter_ids:
        chosen = rng.sample(ids + ["zz"] * (rng.random() < 0.03), rng.randint(0, min(3, len(ids))))
        if rng.random() < 0.05 and chosen:
            chosen.append(chosen[0])
        row = [v, ",".join(chosen)]
        if with_points:
            pts = [str(rng.randint(-1 if rng.random() < 0.03 else 0, 4)) for _ in chosen]
            if rng.random() < 0.05:
                pts.append("1")
            row.append("" if vote_type == "ordinal" and rng.random() < 0.5 else ",".join(pts))
        if extra:
            row.append(rng.choice(["", "30", "41", "x y"]))
        rows.append(";".join(row))
    text = "\n".join(meta + rows) + "\n"
    for _ in range(rng.randint(0, 2)):  # a random small fault or oddity
        k = rng.randrange(len(text))
        text = text[:k] + rng.choice(["", ";", ",", " ", "\n", '"', "7", "\n\n"]) + text[k + 1 :]
    return text


def test_fast_reader_matches_the_line_parser_on_random_files():
    import random

    rng = random.Random(14)
    for _ in range(1500):
        _agrees_with_the_line_parser(_random_file(rng))


def test_project_keys_give_empty_tokens_no_project_whatever_the_table():
    keys = pabulib._ProjectKeys.of(["1", "12", "ż"])
    assert keys is not None
    text = "12,,ż,1,13".encode()
    padded = text + bytes(8)
    start = np.asarray([0, 3, 4, 7, 9], dtype=np.int64)
    width = np.asarray([2, 0, 2, 1, 2], dtype=np.int64)
    assert keys.codes(padded, len(text), start[:4], width[:4]).tolist() == [1, 3, 2, 0]
    assert keys.codes(padded, len(text), start, width) is None  # "13" is no project
    keys.table[:] = 0  # every slot names project 0: a token that is not "1" is found wrong, and refused
    assert keys.codes(padded, len(text), start[1:2], width[1:2]).tolist() == [3]
    assert keys.codes(padded, len(text), start[:1], width[:1]) is None
    assert pabulib._ProjectKeys.of(["1", "x" * 9]) is None  # ids over 8 bytes: read line by line
    assert pabulib._ProjectKeys.of(["1", "a,b"]) is None


@pytest.mark.parametrize(
    ("votes", "twice"),
    [
        (["5,69", "70,6,134", "1,2,3"], None),  # the same bit in different words of 64 projects
        (["5,69", "70,6,70"], "70"),
        (["134,2,134", "1"], "134"),
        (["0,64,128,0"], "0"),
    ],
)
def test_a_project_twice_on_a_ballot_among_many_projects(votes, twice):
    ids = [str(k) for k in range(135)]
    rows = [f"{v};{vote};" for v, vote in enumerate(votes, start=1)]
    text = _plain(rows, ids=tuple(ids)).replace("budget;1000", "budget;100000")
    if twice is None:
        fast = pabulib.parse(text)
        assert isinstance(fast.profile.ballots, BallotTable)
        assert same(fast, pabulib._parse_lines(text))
    else:
        with pytest.raises(PabulibError, match=f"lists project '{twice}' twice"):
            pabulib.parse(text)
