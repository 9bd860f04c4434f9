"""The byte formats of a verifiable result, shared by the Django side (which writes them) and the verifier.

Pure: no Django. docs/verification.md specifies every format here; change both together.

- ballot record: {"pot": <pot slug>, "projects": [<project id>, ...]} plus "points": [<int>, ...] (aligned
  with "projects") for points ballots. Its hash is SHA-256 of its canonical JSON.
- ballot file (JSON lines): one canonical ballot record per line, "\n"-terminated, lines sorted bytewise
  (a content order: it reveals nothing about when or by whom a ballot was cast).
- ballot log batch: {"election", "seq", "prev", "ballots": [ballot hashes, shuffled], "receipts": [receipt
  hashes, sorted]}; its "hash" is the canonical hash of that object; batch 1's "prev" is the definition hash.
- audit file: one canonical {"hash", "payload"} per line, payload exactly as pb.core.audit hashes it.
- manifest.json: the canonical JSON of the manifest; manifest.sig: hex Ed25519 signature of those bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tally.engine.canonical import canonical_hash, canonical_json, sha256_hex

MANIFEST_FORMAT = "pb-result-manifest/2"
AUDIT_GENESIS = "0" * 64
LOG_FILE = "log.jsonl"
AUDIT_FILE = "audit.jsonl"
RECEIPTS_FILE = "receipts.txt"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"

# Pot ballot type (pb.core.models.BallotType) -> Pabulib vote_type.
VOTE_TYPE = {"knapsack": "approval", "approval": "approval", "ranked": "ordinal", "points": "cumulative"}


def pb_file(pot: str) -> str:
    return f"ballots-{pot}.pb"


def jsonl_file(pot: str) -> str:
    return f"ballots-{pot}.jsonl"


def ballot_record(pot: str, projects: Sequence[str], points: Sequence[int] | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"pot": pot, "projects": [str(p) for p in projects]}
    if points is not None:
        rec["points"] = [int(v) for v in points]
    return rec


def ballot_hash(record: Mapping[str, Any]) -> str:
    return canonical_hash(record)


# Same bytes as canonical_json for a ballot record (built only from str and int), without its float check:
# the export of 100,000 ballots spends its time here.
_FAST = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_fast(value: Any) -> bytes:
    """canonical_json for data known to hold only str, int, list and dict (read back from our own tables)."""
    return _FAST.encode(value).encode()


def ballot_line(pot: str, projects: Sequence[str], points: Sequence[int] | None = None) -> bytes:
    """canonical_json(ballot_record(pot, projects, points)); its SHA-256 is the ballot hash."""
    return _FAST.encode(ballot_record(pot, projects, points)).encode()


def ballot_lines(records: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Canonical lines in content order (sorted bytes): the order of the JSON lines and .pb files."""
    return sorted(canonical_json(r) for r in records)


def jsonl_bytes(lines: Sequence[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


def log_batch(*, election: str, seq: int, prev: str, ballots: list[str], receipts: list[str]) -> dict:
    body = {"election": election, "seq": seq, "prev": prev, "ballots": ballots, "receipts": sorted(receipts)}
    return {**body, "hash": canonical_hash(body)}


def log_batch_hash(batch: Mapping[str, Any]) -> str:
    return canonical_hash({k: batch[k] for k in ("election", "seq", "prev", "ballots", "receipts")})


def pabulib_meta(definition: Mapping[str, Any], pot: Mapping[str, Any], num_votes: int) -> dict[str, Any]:
    """META of a pot's .pb file, derived only from the frozen definition (so the verifier can check it)."""
    meta: dict[str, Any] = {
        "description": f"{definition['election']['name']} - {pot['name']}",
        "country": definition["election"].get("country", ""),
        "unit": definition["election"]["city"],
        "instance": pot["slug"],
        "num_projects": len(pot["projects"]),
        "num_votes": num_votes,
        "budget": pot["budget"],
        "vote_type": VOTE_TYPE[pot["ballot_type"]],
        "rule": definition["counting"]["rule"],
        "currency": definition["election"]["currency"],
    }
    rules = pot["ballot_rules"]
    if rules.get("min_selections"):
        meta["min_length"] = rules["min_selections"]
    if rules.get("max_selections") is not None:
        meta["max_length"] = rules["max_selections"]
    if pot["ballot_type"] == "knapsack":
        meta["max_sum_cost"] = pot["budget"]
    if rules.get("points_total") is not None:
        meta["max_sum_points"] = rules["points_total"]
    if rules.get("points_max_per_project") is not None:
        meta["max_points"] = rules["points_max_per_project"]
    return meta


def pabulib_election(
    definition: Mapping[str, Any],
    pot: Mapping[str, Any],
    lines: Sequence[bytes],
    decoded: Sequence[tuple[Sequence[str], Sequence[int] | None]] | None = None,
):
    """The .pb content of a pot (tally.engine.model.Election), built directly: `pabulib.write` of it gives the
    same text as `pabulib.write(pabulib.build(...))` of pabulib_meta/pabulib_records, without re-parsing.
    `decoded`: (projects, points) of each line, when the caller has them already (saves a JSON parse each)."""
    from tally.engine.model import Ballot, Election, Instance, Profile, Project

    meta = {k: str(v) for k, v in pabulib_meta(definition, pot, len(lines)).items()}
    projects = {p["id"]: Project(id=p["id"], cost=int(p["cost"]), name=p["name"]) for p in pot["projects"]}
    points = pot["ballot_type"] == "points"
    if decoded is None:
        recs = (json.loads(line) for line in lines)
        decoded = [(r["projects"], r.get("points")) for r in recs]
    ballots = [
        Ballot(voter_id=str(i), projects=tuple(prj), points=tuple(pts) if pts is not None else None)
        for i, (prj, pts) in enumerate(decoded, start=1)
    ]
    return Election(
        instance=Instance(meta=meta, projects=projects, project_columns=["project_id", "cost", "name"]),
        profile=Profile(
            vote_type=meta["vote_type"],
            ballots=ballots,
            voter_columns=["voter_id", "vote", "points"] if points else ["voter_id", "vote"],
        ),
    )


def pabulib_records(pot: Mapping[str, Any], lines: Sequence[bytes]) -> tuple[list[dict], list[dict]]:
    """(projects, ballots) records for tally.engine.pabulib.build; voter ids 1..n in file (content) order."""
    projects = [{"project_id": p["id"], "cost": p["cost"], "name": p["name"]} for p in pot["projects"]]
    ballots = []
    for i, line in enumerate(lines, start=1):
        rec = json.loads(line)
        b: dict[str, Any] = {"voter_id": str(i), "vote": rec["projects"]}
        if "points" in rec:
            b["points"] = rec["points"]
        ballots.append(b)
    return projects, ballots


def result_hash(outcome_json: Mapping[str, Any]) -> str:
    """SHA-256 of an outcome's JSON. Canonical when the outcome has no floats (the engine's promise);
    otherwise the same sorted, compact form with Python's shortest float repr."""
    try:
        return canonical_hash(outcome_json)
    except TypeError:
        data = json.dumps(outcome_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return sha256_hex(data.encode())


def pot_result(outcome_json: Mapping[str, Any], ballots: int) -> dict[str, Any]:
    return {
        "ballots": ballots,
        "budget": outcome_json["budget"],
        "selected": list(outcome_json["selected"]),
        "total_cost": outcome_json["total_cost"],
        "result_sha256": result_hash(outcome_json),
    }


def key_fingerprint(raw_public_key: bytes) -> str:
    """SHA-256 of the raw 32-byte Ed25519 public key, hex."""
    return hashlib.sha256(raw_public_key).hexdigest()


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return canonical_json(manifest)


def file_sha256(data: bytes) -> str:
    return sha256_hex(data)
