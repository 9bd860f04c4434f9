"""Independent verification of a certified result: `python -m tally verify RESULT.pdf --key council.pub
[--ballots DIR]`. No Django, no database: only the published PDF (or manifest.json + manifest.sig), the
council's public key and the published files. docs/verification.md specifies every step.

PDF reading uses pyHanko (a dependency of pb for the PAdES signature anyway): it parses cross-reference
streams, compressed object streams and incremental updates (the PAdES signature is one), which a tiny
hand-written extractor would get subtly wrong. It is imported only when a PDF is given.

Long module: the checks of docs/verification.md in the order the document gives them, one function
per step, so the specification and the verifier can be read side by side.
"""

from __future__ import annotations

import argparse
import binascii
import io
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tally.engine import ENGINE_NAME, ENGINE_VERSION, auditlog
from tally.engine import manifest as mf
from tally.engine.canonical import canonical_hash, canonical_json, sha256_hex


class VerifyError(Exception):
    pass


@dataclass
class Step:
    name: str
    status: str  # PASS, FAIL, SKIP, WARN
    detail: str = ""

    def line(self) -> str:
        return f"{self.status:4} {self.name}: {self.detail}".rstrip(": ")


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    def add(self, name: str, ok: bool | None, detail: str = "", *, warn: bool = False) -> bool:
        status = "SKIP" if ok is None else ("PASS" if ok else ("WARN" if warn else "FAIL"))
        self.steps.append(Step(name, status, detail))
        return bool(ok)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and not any(s.status == "FAIL" for s in self.steps)

    def failed(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "FAIL"]

    def text(self) -> str:
        lines = [s.line() for s in self.steps]
        lines.append("RESULT: " + ("PASS" if self.ok else "FAIL (" + ", ".join(self.failed()) + ")"))
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ PDF

# The PAdES SubFilter (ETSI EN 319 142-1); adbe.pkcs7.detached is a plain CMS signature, not PAdES.
PADES_SUBFILTER = "/ETSI.CAdES.detached"
PDF_SIGNATURE_STEP = "PDF signature (PAdES)"


def pdf_attachments(data: bytes, *, revision: int | None = None) -> dict[str, bytes]:
    """Embedded files of a PDF (the EmbeddedFiles name tree), by file name; of the given revision (0 = the
    oldest) or of the file as a reader shows it."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    return _attachments(PdfFileReader(io.BytesIO(data), strict=False), revision)


def _attachments(reader, revision: int | None) -> dict[str, bytes]:
    root = reader.root if revision is None else reader.get_historical_root(revision)
    names = root.get("/Names")
    out: dict[str, bytes] = {}
    if names is None or "/EmbeddedFiles" not in names:
        return out

    def walk(node, depth: int = 0) -> None:
        if depth > 32:  # a name tree that loops back on itself
            raise VerifyError("the EmbeddedFiles name tree is too deep")
        node = node.get_object() if hasattr(node, "get_object") else node
        if "/Names" in node:
            arr = node["/Names"]
            for i in range(0, len(arr), 2):
                spec = arr[i + 1].get_object() if hasattr(arr[i + 1], "get_object") else arr[i + 1]
                name = str(spec.get("/UF", spec.get("/F", arr[i])))
                stream = spec["/EF"].get("/F") or spec["/EF"].get("/UF")
                out[name] = stream.get_object().data
        for kid in node.get("/Kids", []):
            walk(kid, depth + 1)

    walk(names["/EmbeddedFiles"])
    return out


@dataclass
class PdfSignature:
    """What the verifier found about the PDF's last signature: `problems` empty means it PASSes."""

    field_name: str = ""
    signed_revision: int | None = None
    certificate_sha256: str = ""
    subject: str = ""
    problems: list[str] = field(default_factory=list)
    detail: str = ""


def _last_signature(reader) -> Any:
    sigs = list(reader.embedded_signatures)
    if not sigs:
        return None
    # The signature of the newest revision; of two in one revision (not something pb writes), the one whose
    # byte range ends last.
    return max(sigs, key=lambda s: (s.signed_revision, int(s.byte_range[2]) + int(s.byte_range[3])))


def _byte_range_problems(data: bytes, reader, sig) -> list[str]:
    """Our own check of the signed byte range [0, a, b, c]: it starts at 0, leaves out only the hex signature
    value <...>, and ends at the end of the file, with no revision after the signed one."""
    br = [int(x) for x in sig.byte_range]
    if len(br) != 4 or br[0] != 0 or min(br) < 0:
        return ["the signed byte range does not start at the beginning of the file"]
    _zero, a, b, c = br
    problems = []
    gap = data[a:b]
    if not (
        len(gap) >= 2
        and gap[:1] == b"<"
        and gap[-1:] == b">"
        and all(ch in b"0123456789abcdefABCDEF" for ch in gap[1:-1])
    ):
        problems.append("the signed byte range leaves out more than the signature value")
    end = b + c
    later_revisions = reader.xrefs.total_revisions - 1 - sig.signed_revision
    if end > len(data):
        problems.append("the signed byte range runs past the end of the file (the file was cut)")
    elif later_revisions > 0:
        problems.append(f"{later_revisions} revision(s) (incremental update) added after the signed revision")
    elif end < len(data):
        problems.append(f"bytes appended after the signed revision ({len(data) - end} bytes)")
    return problems


def pdf_signature(
    data: bytes, reader, *, manifest_certificate: str | None, manifest_read: bool = True
) -> PdfSignature:
    """Checks the last PAdES signature of the PDF: covers the entire file, digest intact, signature valid, and
    its certificate is the one the signed manifest names (SHA-256 of the DER certificate). `manifest_read`
    False: the signed revision has no readable manifest to name one."""
    # pyHanko logs a traceback when it cannot build a trust path (a council's own certificate): that is
    # expected and reported as trusted=False, not an error.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    out = PdfSignature()
    try:
        sig = _last_signature(reader)
    except Exception as exc:
        out.problems.append(f"cannot read the signatures: {exc}")
        return out
    if sig is None:
        out.problems.append("the PDF carries no PAdES signature")
        return out
    try:
        _check_signature(out, data, reader, sig, manifest_certificate, manifest_read)
    except Exception as exc:  # a malformed signature dictionary: FAIL with a reason, not a traceback
        out.problems.append(f"cannot check the signature: {type(exc).__name__}: {exc}")
    return out


def _check_signature(out: PdfSignature, data: bytes, reader, sig, manifest_certificate, manifest_read):
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    out.field_name = str(sig.field_name)
    out.signed_revision = sig.signed_revision
    subfilter = str(sig.sig_object.get("/SubFilter", ""))
    if subfilter != PADES_SUBFILTER:
        out.problems.append(f"not a PAdES signature (SubFilter {subfilter or 'missing'})")
    out.problems += _byte_range_problems(data, reader, sig)
    try:
        # No trust roots: what vouches for the certificate is the signed manifest, not a PKI (and the
        # result must not depend on the trust store of the machine that verifies).
        status = validate_pdf_signature(sig, signer_validation_context=ValidationContext(trust_roots=[]))
    except Exception as exc:
        out.problems.append(f"cannot validate the signature: {type(exc).__name__}: {exc}")
        return
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE and not out.problems:
        out.problems.append(f"does not cover the entire file ({status.coverage.name})")
    if not status.intact:
        out.problems.append("the signed bytes were changed (digest mismatch)")
    elif not status.valid:
        out.problems.append("the signature value does not verify with its certificate")
    cert = sig.signer_cert
    out.certificate_sha256 = sha256_hex(cert.dump())
    out.subject = cert.subject.human_friendly
    if not manifest_read:
        out.problems.append("no readable manifest in the signed revision to name the certificate")
    elif not manifest_certificate:
        out.problems.append("the signed manifest names no PDF signing certificate")
    elif out.certificate_sha256 != manifest_certificate:
        out.problems.append(
            "certificate is not the one named in the signed manifest "
            f"(signer {out.certificate_sha256[:16]}…, manifest {manifest_certificate[:16]}…)"
        )
    out.detail = (
        f"{out.field_name}: covers the entire file, digest intact, certificate sha256 "
        f"{out.certificate_sha256} (named in the manifest), signer {out.subject}"
    )


# ------------------------------------------------------------------------------------------------ keys


def load_public_key(data: bytes) -> bytes:
    """Raw 32-byte Ed25519 public key from PEM (SubjectPublicKeyInfo), 64 hex digits or base64."""
    text = data.decode("ascii", "replace").strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise VerifyError("the key file is not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = binascii.a2b_base64(text)
    if len(raw) != 32:
        raise VerifyError("an Ed25519 public key is 32 bytes")
    return raw


def ed25519_ok(raw_public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw_public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------------------------------------ steps


def _check_log(report: Report, manifest: dict, files: dict[str, bytes], ballot_hashes: Counter) -> None:
    data = files.get(mf.LOG_FILE)
    if data is None:
        report.add("ballot log", False, f"{mf.LOG_FILE} missing")
        return
    prev = manifest["definition_sha256"]
    logged: Counter = Counter()
    receipts: list[str] = []
    problems = []
    batches = mf.parse_jsonl(data)
    for k, batch in enumerate(batches, start=1):
        if batch.get("seq") != k:
            problems.append(f"batch {k}: sequence number {batch.get('seq')}")
        if batch.get("prev") != prev:
            problems.append(f"batch {k}: previous-hash link broken")
        if mf.log_batch_hash(batch) != batch.get("hash"):
            problems.append(f"batch {k}: content does not match its hash")
        if batch.get("election") != manifest["election"]["slug"]:
            problems.append(f"batch {k}: belongs to another election")
        logged.update(batch["ballots"])
        receipts.extend(batch["receipts"])
        prev = batch.get("hash")
    head = manifest["ballot_log"]
    if prev != head["head"] or len(batches) != head["batches"]:
        problems.append(
            f"chain head {prev[:16]}… after {len(batches)} batches, manifest says {head['head'][:16]}…"
        )
    if sum(logged.values()) != head["ballots"]:
        problems.append(f"log holds {sum(logged.values())} ballots, manifest says {head['ballots']}")
    if len(set(receipts)) != len(receipts) or len(receipts) != sum(logged.values()):
        problems.append("receipts are not one distinct receipt per ballot")
    report.add("ballot log chain", not problems, "; ".join(problems) or f"{len(batches)} batches, head ok")
    if not problems:
        missing, extra = logged - ballot_hashes, ballot_hashes - logged
        report.add(
            "ballot files match sealed log",
            not missing and not extra,
            f"{sum(missing.values())} sealed ballots missing from the files, "
            f"{sum(extra.values())} ballots in the files were never sealed"
            if missing or extra
            else f"{sum(logged.values())} ballots",
        )
    rdata = files.get(mf.RECEIPTS_FILE)
    if rdata is not None:
        listed = [r for r in rdata.decode().split("\n") if r]
        report.add(
            "receipt list",
            listed == sorted(receipts),
            "matches the log"
            if listed == sorted(receipts)
            else "differs from the receipts sealed in the log",
        )


def certified_audit_bytes(data: bytes, seq: int) -> bytes:
    """The first `seq` lines of an audit file: the audit.jsonl the manifest names, even after publication
    extended the published file (its hash in the manifest is of these bytes)."""
    lines = data.split(b"\n")
    return b"".join(line + b"\n" for line in lines[:seq]) if len(lines) > seq else data


def _checkpoint_ok(anchor: dict, *, key: str | None = None) -> tuple[bool | None, str]:
    """An audit head's signed checkpoint ({"head", "seq", "checkpoint": {...}}) against the audit key it
    names (itself vouched for by the council's signature on the record that carries it)."""
    cp = anchor.get("checkpoint")
    if cp is None:
        return None, "no signed checkpoint in this record (made before the audit log was anchored)"
    try:
        raw = bytes.fromhex(cp["key"])
        sig = bytes.fromhex(cp["signature"])
    except (KeyError, TypeError, ValueError):
        return False, "malformed checkpoint"
    if len(raw) != 32 or mf.key_fingerprint(raw) != cp.get("key_fingerprint"):
        return False, "the checkpoint's key does not match its fingerprint"
    if key is not None and cp["key"] != key:
        return False, f"signed with another audit key ({cp.get('key_fingerprint', '')[:16]}…)"
    message = auditlog.checkpoint_message_of(cp, seq=anchor["seq"], head=anchor["head"])
    if not ed25519_ok(raw, sig, message):
        return False, "the audit key's signature does not verify"
    return True, f"#{anchor['seq']} {anchor['head'][:16]}…, audit key {cp['key_fingerprint'][:16]}…"


def _publication(
    report: Report, manifest: dict, manifest_json: bytes, public_key: bytes, files
) -> dict | None:
    """The signed publication record, checked; None when absent (certified, not published) or bad."""
    body = files.get(auditlog.PUBLICATION_FILE)
    if body is None:
        report.add(
            "publication record", None, "no publication.json: audit entries after certification unchecked"
        )
        return None
    try:
        record = json.loads(body)
        sig = bytes.fromhex(files.get(auditlog.PUBLICATION_SIG, b"").decode().strip())
    except (ValueError, UnicodeDecodeError, RecursionError):
        report.add("publication record", False, "publication.json or publication.sig unreadable")
        return None
    problems = []
    if not isinstance(record, dict) or canonical_json(record) != body:
        problems.append("not canonical JSON")
        record = record if isinstance(record, dict) else {}
    if record.get("format") != auditlog.PUBLICATION_FORMAT:
        problems.append(f"format {record.get('format')!r}")
    if not ed25519_ok(public_key, sig, body):
        problems.append("the council signature does not verify")
    if record.get("council_key_fingerprint") != mf.key_fingerprint(public_key):
        problems.append("names another council key")
    if record.get("manifest_sha256") != sha256_hex(manifest_json):
        problems.append("commits to another manifest")
    if record.get("election") != manifest["election"]["slug"]:
        problems.append("belongs to another election")
    report.add(
        "publication record",
        not problems,
        "; ".join(problems) or f"signed, published {record.get('published_at', '?')}",
    )
    return record if not problems else None


def _check_audit(
    report: Report,
    manifest: dict,
    files: dict[str, bytes],
    *,
    manifest_json: bytes = b"",
    public_key: bytes | None = None,
) -> None:
    data = files.get(mf.AUDIT_FILE)
    if data is None:
        report.add("audit log", False, f"{mf.AUDIT_FILE} missing")
        return
    want = manifest["audit_log"]
    ok, detail = _checkpoint_ok(want)
    report.add("audit checkpoint at certification", ok, detail)
    audit_key = want.get("checkpoint", {}).get("key") if ok else None
    pub = _publication(report, manifest, manifest_json, public_key, files) if public_key is not None else None
    try:
        entries = mf.parse_jsonl(data)
    except ValueError as exc:
        report.add("audit log chain", False, f"not JSON lines: {exc}")
        return
    prev, seq, problems, hashes = auditlog.chain_problems(entries)
    if hashes.get(want["seq"], auditlog.GENESIS if want["seq"] == 0 else None) != want["head"]:
        got = hashes.get(want["seq"])
        problems.append(
            f"entry #{want['seq']} hashes to {(got or 'nothing')[:16]}…, "
            f"the manifest says {want['head'][:16]}…"
        )
    end = pub["audit_log"] if pub is not None else want
    if prev != end["head"] or seq != end["seq"]:
        whose = "the publication record" if pub is not None else "manifest"
        problems.append(
            f"head after {seq} entries is {prev[:16]}…, {whose} says #{end['seq']} {end['head'][:16]}…"
        )
    report.add("audit log chain", not problems, "; ".join(problems[:3]) or f"{seq} entries, head ok")
    if pub is not None:
        file_ok = sha256_hex(data) == pub.get("files", {}).get(mf.AUDIT_FILE)
        ok, detail = _checkpoint_ok(pub["audit_log"], key=audit_key)
        report.add(
            "audit log at publication",
            bool(ok) and file_ok,
            detail if file_ok else "audit.jsonl is not the file the publication record names",
        )


def _check_records(report: Report, manifest: dict, files: dict[str, bytes]) -> None:
    want = manifest.get("receipts")
    data = files.get(mf.RECEIPTS_FILE)
    if want is None or data is None:
        return
    ok = sha256_hex(data) == want.get("sha256")
    report.add(
        "receipt digest",
        ok,
        f"{want.get('count')} receipts"
        if ok
        else "receipts.txt differs from the receipts the manifest signs",
    )


def _check_reconciliation(report: Report, manifest: dict, files: dict[str, bytes] | None) -> None:
    """Per pot: the ballots per channel add up to the pot's ballots (in its ballot file, else the manifest's
    count), and in each channel ballots equal participations, or the difference is exactly the sum of the
    differences the listed resolutions explain. docs/verification.md, section "Reconciliation"."""
    rec = manifest.get("reconciliation")
    if not isinstance(rec, dict):
        report.add(
            "reconciliation", False, "the manifest lists no reconciliation of ballots and participations"
        )
        return
    slugs = [pot_def["slug"] for pot_def in manifest["definition"]["pots"]]
    for slug in sorted(set(rec) - set(slugs)):
        report.add(f"pot {slug}: reconciliation", False, "a pot that is not in the definition")
    for slug in slugs:
        name = f"pot {slug}: reconciliation"
        try:
            ok, detail = _reconcile_pot(manifest, slug, rec.get(slug), files)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            ok, detail = False, f"malformed: {type(exc).__name__}: {exc}"
        report.add(name, ok, detail)


def _reconcile_pot(manifest: dict, slug: str, entry, files: dict[str, bytes] | None) -> tuple[bool, str]:
    if not isinstance(entry, dict):
        return False, "not listed"
    ballots, parts, resolutions = entry["ballots"], entry["participations"], entry["resolutions"]
    if files is not None and mf.jsonl_file(slug) in files:
        in_file = sum(1 for line in files[mf.jsonl_file(slug)].split(b"\n") if line)
        source = "its ballot file"
    else:
        in_file, source = int(manifest["pots"][slug]["ballots"]), "the manifest's count"
    problems = []
    total = sum(int(n) for n in ballots.values())
    if total != in_file:
        problems.append(f"ballots per channel add up to {total}, {source} holds {in_file}")
    channels = sorted(set(ballots) | set(parts))
    for r in resolutions:
        if r["channel"] not in channels:
            problems.append(f"channel {r['channel']}: a resolution for a channel with no count")
    summary = []
    for ch in channels:
        b, p = int(ballots.get(ch, 0)), int(parts.get(ch, 0))
        covered, listed = 0, 0
        for r in resolutions:
            if r["channel"] != ch:
                continue
            listed += 1
            diff = int(r["difference"])
            if (
                diff == 0
                or diff != int(r["ballots"]) - int(r["participations"])
                or not str(r["reason"]).strip()
            ):
                problems.append(
                    f"channel {ch}: the resolution at booth {r['booth']!r} does not add up or gives no reason"
                )
            covered += diff
        if b - p != covered:
            problems.append(
                f"channel {ch}: {b} ballots for {p} participations ({b - p:+d}), "
                f"resolutions explain {covered:+d}"
            )
        summary.append(f"{ch} {b}/{p}" + (f" ({listed} resolved)" if listed else ""))
    return not problems, "; ".join(problems) or ", ".join(summary)


def _check_pot(report: Report, manifest: dict, pot_def: dict, files: dict[str, bytes]) -> Counter:
    from tally.engine import pabulib, registry
    from tally.engine.ties import TieBreak

    slug = pot_def["slug"]
    want = manifest["pots"][slug]
    lines = [line for line in files[mf.jsonl_file(slug)].split(b"\n") if line]
    hashes = Counter(sha256_hex(line) for line in lines)
    recs = [json.loads(line) for line in lines]
    canonical = all(canonical_json(r) == line for r, line in zip(recs, lines, strict=True))
    ok = canonical and lines == sorted(lines) and all(r.get("pot") == slug for r in recs)
    report.add(
        f"pot {slug}: ballot file format", ok, f"{len(lines)} ballots" if ok else "not canonical/sorted"
    )
    report.add(
        f"pot {slug}: ballot count",
        len(lines) == want["ballots"],
        f"{len(lines)} (manifest {want['ballots']})",
    )
    try:
        election = pabulib.read(files[mf.pb_file(slug)])
    except pabulib.PabulibError as exc:
        report.add(f"pot {slug}: .pb file", False, str(exc))
        return hashes
    expected = mf.pabulib_election(manifest["definition"], pot_def, lines)
    same = (
        election.instance.meta == expected.instance.meta
        and [(p.id, p.cost) for p in election.instance.projects.values()]
        == [(p.id, p.cost) for p in expected.instance.projects.values()]
        and [(b.voter_id, b.projects, b.points) for b in election.profile.ballots]
        == [(b.voter_id, b.projects, b.points) for b in expected.profile.ballots]
    )
    report.add(
        f"pot {slug}: .pb matches definition and JSON lines",
        same,
        "" if same else "projects, costs, budget or ballots differ from the definition / ballot file",
    )
    counting = manifest["definition"]["counting"]
    tb = TieBreak.parse(counting["tie_break"], list(election.instance.projects), counting["seed"] or None)
    outcome = registry.run(counting["rule"], election, tie_break=tb, options=counting.get("options") or {})
    got = mf.pot_result(outcome.to_json(), len(election.profile.ballots))
    match = got["selected"] == want["selected"] and got["total_cost"] == want["total_cost"]
    report.add(
        f"pot {slug}: re-run {counting['rule']}",
        match,
        f"selected {', '.join(got['selected']) or '-'} (cost {got['total_cost']})"
        if match
        else f"re-run selects {got['selected']}, manifest says {want['selected']}",
    )
    if match:
        same_engine = manifest["engine"] == {"name": ENGINE_NAME, "version": ENGINE_VERSION}
        report.add(
            f"pot {slug}: full result (rounds, tie breaks) identical",
            got["result_sha256"] == want["result_sha256"],
            ""
            if got["result_sha256"] == want["result_sha256"]
            else (
                "differs" if same_engine else f"engine {ENGINE_VERSION} vs {manifest['engine']['version']}"
            ),
            warn=not same_engine,
        )
    return hashes


def verify(
    *,
    manifest_json: bytes,
    signature: bytes,
    public_key: bytes,
    files: dict[str, bytes] | None = None,
    report: Report | None = None,
) -> Report:
    """Check a manifest, its signature and (if given) the published files. `public_key` is the raw key."""
    report = report or Report()
    try:
        manifest = json.loads(manifest_json)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested deeper than the parser goes
        report.add("manifest", False, f"not JSON: {exc}")
        return report
    report.manifest = manifest
    try:
        return _verify(manifest, manifest_json, signature, public_key, files, report)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        report.add("manifest structure", False, f"{type(exc).__name__}: {exc}")
        return report


def _verify(manifest, manifest_json, signature, public_key, files, report) -> Report:
    report.add(
        "manifest format",
        canonical_json(manifest) == manifest_json and manifest.get("format") == mf.MANIFEST_FORMAT,
        f"{mf.MANIFEST_FORMAT}, sha256 {sha256_hex(manifest_json)}",
    )
    try:
        sig = bytes.fromhex(signature.decode().strip())
    except ValueError:
        sig = b""
    fp = mf.key_fingerprint(public_key)
    report.add("council signature (Ed25519)", ed25519_ok(public_key, sig, manifest_json), f"key {fp}")
    report.add(
        "key fingerprint in manifest",
        manifest.get("council_key_fingerprint") == fp,
        manifest.get("council_key_fingerprint", "absent"),
    )
    definition = manifest.get("definition", {})
    report.add(
        "definition hash",
        canonical_hash(definition) == manifest.get("definition_sha256"),
        manifest.get("definition_sha256", ""),
    )
    roll, frozen_roll = manifest["roll_snapshot"], definition.get("roll")
    report.add(
        "roll snapshot",
        None if roll is None and frozen_roll is None else roll == frozen_roll,
        f"{roll['entries']} entries, {roll['sha256']}" if roll else "no voter roll",
    )
    _check_reconciliation(report, manifest, files)
    if files is None:
        report.add(
            "published files", None, "no --ballots directory given: files, log and re-count not checked"
        )
        return report
    bad = []
    for name, digest in sorted(manifest["files"].items()):
        if name not in files:
            bad.append(f"{name} missing")
        elif (
            sha256_hex(
                certified_audit_bytes(files[name], manifest["audit_log"]["seq"])
                if name == mf.AUDIT_FILE
                else files[name]
            )
            != digest
        ):
            bad.append(f"{name} hash differs")
    report.add("file hashes", not bad, "; ".join(bad) or f"{len(manifest['files'])} files")
    hashes: Counter = Counter()
    for pot_def in definition["pots"]:
        if mf.jsonl_file(pot_def["slug"]) not in files or mf.pb_file(pot_def["slug"]) not in files:
            report.add(f"pot {pot_def['slug']}", False, "ballot files missing")
            continue
        try:
            hashes += _check_pot(report, manifest, pot_def, files)
        except Exception as exc:  # a malformed file must give FAIL with a reason, not a traceback
            report.add(f"pot {pot_def['slug']}", False, f"{type(exc).__name__}: {exc}")
    _check_log(report, manifest, files, hashes)
    _check_records(report, manifest, files)
    _check_audit(report, manifest, files, manifest_json=manifest_json, public_key=public_key)
    return report


def verify_pdf(pdf: bytes, *, public_key: bytes, files: dict[str, bytes] | None = None) -> Report:
    """The document is the signed object: the last PAdES signature must cover the entire file with the
    certificate the signed manifest names, and the manifest is read from the signed revision's attachments.
    docs/verification.md, section 8."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    report = Report()
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        reader.root  # noqa: B018 - parses the trailer and catalog: a broken file fails here, with a reason
    except Exception as exc:
        report.add("PDF attachments", False, f"cannot read the PDF: {exc}")
        return report
    try:
        last = _last_signature(reader)
        revision = last.signed_revision if last is not None else None
    except Exception:
        revision = None  # pdf_signature reports it
    try:
        attached = _attachments(reader, revision)
    except Exception as exc:
        attached, problem = {}, f"cannot read the attachments: {type(exc).__name__}: {exc}"
    else:
        problem = ""
    have = mf.MANIFEST_FILE in attached and mf.SIGNATURE_FILE in attached
    where = f" (signed revision {revision})" if revision is not None else " (no signed revision)"
    report.add(
        "PDF attachments",
        have,
        (f"{mf.MANIFEST_FILE}, {mf.SIGNATURE_FILE}" if have else problem or "manifest or signature missing")
        + where,
    )
    named = None
    if have:
        try:
            named = json.loads(attached[mf.MANIFEST_FILE]).get("pdf_signing_certificate", {}).get("sha256")
        except (ValueError, AttributeError, RecursionError):
            named = None
        named = named if isinstance(named, str) else None
    sig = pdf_signature(pdf, reader, manifest_certificate=named, manifest_read=have)
    report.add(PDF_SIGNATURE_STEP, not sig.problems, "; ".join(sig.problems) or sig.detail)
    if not have:
        return report
    return verify(
        manifest_json=attached[mf.MANIFEST_FILE],
        signature=attached[mf.SIGNATURE_FILE],
        public_key=public_key,
        files=files,
        report=report,
    )


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def _add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "result", type=Path, help="the result PDF, or manifest.json (with manifest.sig beside it)"
    )
    ap.add_argument("--key", type=Path, required=True, help="the council's public key (PEM or hex)")
    ap.add_argument("--ballots", type=Path, help="directory with the published ballot, log and audit files")
    ap.add_argument("--json", action="store_true", help="print the steps as JSON")


def run_args(args: argparse.Namespace) -> int:
    try:
        key = load_public_key(args.key.read_bytes())
        files = read_dir(args.ballots) if args.ballots else None
        data = args.result.read_bytes()
    except (OSError, VerifyError, ValueError) as exc:
        print(f"FAIL input: {exc}", file=sys.stderr)
        return 2
    if data.startswith(b"%PDF"):
        report = verify_pdf(data, public_key=key, files=files)
    else:
        sig = args.result.with_name(mf.SIGNATURE_FILE)
        report = verify(
            manifest_json=data,
            signature=sig.read_bytes() if sig.exists() else b"",
            public_key=key,
            files=files,
        )
    if args.json:
        print(json.dumps({"ok": report.ok, "steps": [s.__dict__ for s in report.steps]}, indent=1))
    else:
        print(report.text())
    return 0 if report.ok else 1


def register(subparsers) -> None:
    """Adds `verify` to `python -m tally` (tally.engine.cli)."""
    p = subparsers.add_parser("verify", help="check a certified result PDF, its files and re-count")
    _add_arguments(p)
    p.set_defaults(func=run_args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tally verify")
    _add_arguments(ap)
    return run_args(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
