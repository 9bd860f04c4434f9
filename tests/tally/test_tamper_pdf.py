"""Issue 9: the document is the signed object. Each forgery of a certified result PDF (a stamp added as an
incremental update, bytes appended, one byte flipped in a content, font or attachment stream, the genuine
attachments moved into another PDF, unsigned or signed with another certificate, the signature revision
stripped) makes `python -m tally verify` exit 1 with a named FAIL, and the public verify page show FAIL with
the reason. The genuine PDF passes, and poppler's pdfsig sees its signature."""

import datetime as dt
import io
import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tally.certification import signing
from tally.certification.services import election_certify
from tally.engine import manifest as mf
from tally.engine import verify
from tally.filestore import election_dir
from tally.models import Certification

from .conftest import KEYS
from .test_flow import verify_cli

PUB = verify.load_public_key((KEYS / "test-council-ed25519.pub").read_bytes())
STEP = verify.PDF_SIGNATURE_STEP


@pytest.fixture
def genuine(world, tmp_path):
    """The published folder of a whole election certified through the services, and its PDF's bytes."""
    cert = world.through_certify()
    world.publish()
    dst = tmp_path / "published"
    shutil.copytree(election_dir(world.election), dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return cert, dst, (dst / cert.pdf_name).read_bytes()


# ------------------------------------------------------------------------------------------------ helpers


def _reader(pdf: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf), strict=False)


def _stream_span(pdf: bytes, ref) -> tuple[int, int]:
    """(start, end) of the raw data of the stream object `ref` in the file (stream objects are never inside
    object streams, so their "N G obj" header is in the bytes)."""
    m = re.search(rb"(?<![0-9])%d %d obj" % (ref.idnum, ref.generation), pdf)
    assert m, ref
    start = pdf.index(b"stream", m.end()) + len(b"stream")
    start += 2 if pdf[start : start + 2] == b"\r\n" else 1
    end = pdf.index(b"endstream", start)
    return start, end


def _content_ref(pdf: bytes):
    page = _reader(pdf).root["/Pages"]["/Kids"][0].get_object()
    contents = page.raw_get("/Contents")
    return contents if hasattr(contents, "idnum") else contents.get_object()[0]


def _font_ref(pdf: bytes):
    """The first embedded font program (FontFile, FontFile2 or FontFile3) of the first page."""
    page = _reader(pdf).root["/Pages"]["/Kids"][0].get_object()
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        fonts = [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
        for f in fonts:
            desc = f.get("/FontDescriptor")
            if desc is None:
                continue
            desc = desc.get_object()
            for key in ("/FontFile2", "/FontFile3", "/FontFile"):
                if key in desc:
                    return desc.raw_get(key)
    raise AssertionError("no embedded font")


def _attachment_ref(pdf: bytes, name: str):
    arr = _reader(pdf).root["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(arr), 2):
        spec = arr[i + 1].get_object()
        if str(spec.get("/UF", spec.get("/F"))) == name:
            return spec["/EF"].raw_get("/F")
    raise AssertionError(name)


def _flip(pdf: bytes, span: tuple[int, int]) -> bytes:
    start, end = span
    assert end - start > 8
    out = bytearray(pdf)
    out[(start + end) // 2] ^= 0x01
    return bytes(out)


def _self_made_certificate(tmp_path):
    """A forger's own ECDSA certificate, with a subject copied from the council's."""
    key = ec.generate_private_key(ec.SECP256R1())
    genuine = x509.load_pem_x509_certificate((KEYS / "test-pades-cert.pem").read_bytes())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "forger-cert.pem", tmp_path / "forger-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _sign(pdf: bytes, cert_file, key_file) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    signer = signers.SimpleSigner.load(str(key_file), str(cert_file))
    meta = signers.PdfSignatureMetadata(
        field_name="ForgedSignature", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return signers.sign_pdf(w, meta, signer=signer).getvalue()


def _other_pdf_with_the_genuine_attachments(pdf: bytes) -> bytes:
    """Another document (other figures) carrying the genuine manifest.json and manifest.sig, as WeasyPrint
    would write it: the forgery a manifest-only check cannot see."""
    from weasyprint import HTML, Attachment

    attached = verify.pdf_attachments(pdf)
    html = "<h1>Result</h1><p>Funded: the stadium (all of the budget).</p>"
    return HTML(string=html).write_pdf(
        pdf_variant="pdf/a-3b",
        attachments=[
            Attachment(file_obj=io.BytesIO(attached[n]), name=n, relationship="Data")
            for n in (mf.MANIFEST_FILE, mf.SIGNATURE_FILE)
        ],
    )


def _stamped(pdf: bytes, tmp_path) -> bytes:
    from pyhanko.stamp import TextStampStyle, text_stamp_file

    src, dst = tmp_path / "src.pdf", tmp_path / "stamped.pdf"
    src.write_bytes(pdf)
    style = TextStampStyle(stamp_text="CORRECTED: N5 also funded")
    text_stamp_file(str(src), str(dst), style, dest_page=0, x=60, y=60)
    out = dst.read_bytes()
    assert out.startswith(pdf) and len(out) > len(pdf)  # an incremental update: the signed bytes untouched
    return out


def _forge(kind: str, pdf: bytes, tmp_path) -> bytes:
    if kind == "stamp":
        return _stamped(pdf, tmp_path)
    if kind == "stamp, re-signed by the forger":
        return _sign(_stamped(pdf, tmp_path), *_self_made_certificate(tmp_path))
    if kind == "bytes appended after %%EOF":
        return pdf + b"\n% appended after the signature\n"
    if kind == "content stream byte":
        return _flip(pdf, _stream_span(pdf, _content_ref(pdf)))
    if kind == "font stream byte":
        return _flip(pdf, _stream_span(pdf, _font_ref(pdf)))
    if kind == "attachment stream byte":
        return _flip(pdf, _stream_span(pdf, _attachment_ref(pdf, mf.MANIFEST_FILE)))
    if kind == "signature revision stripped":
        # Cutting the last revision restores the unsigned document, still carrying the genuine attachments.
        return pdf[: pdf.index(b"%%EOF") + len(b"%%EOF\n")]
    if kind == "malformed byte range":
        assert pdf.count(b"/ByteRange [0 ") == 1
        return pdf.replace(b"/ByteRange [0 ", b"/ByteRange [/X ")
    if kind == "genuine attachments in another PDF":
        return _other_pdf_with_the_genuine_attachments(pdf)
    if kind == "genuine attachments in another PDF, signed with another certificate":
        return _sign(_other_pdf_with_the_genuine_attachments(pdf), *_self_made_certificate(tmp_path))
    raise AssertionError(kind)


# Each forgery and the reason the verifier must give for it.
FORGERIES = {
    "stamp": "revision(s) (incremental update) added after the signed revision",
    "stamp, re-signed by the forger": "certificate is not the one named in the signed manifest",
    "bytes appended after %%EOF": "bytes appended after the signed revision",
    "content stream byte": "the signed bytes were changed (digest mismatch)",
    "font stream byte": "the signed bytes were changed (digest mismatch)",
    "attachment stream byte": "the signed bytes were changed (digest mismatch)",
    "signature revision stripped": "the PDF carries no PAdES signature",
    "malformed byte range": "cannot ",
    "genuine attachments in another PDF": "the PDF carries no PAdES signature",
    "genuine attachments in another PDF, signed with another certificate": (
        "certificate is not the one named in the signed manifest"
    ),
}


def _post(client, pdf: bytes):
    """The verify page queues the check and redirects to its result page (shown at once: the tests run tasks
    immediately)."""
    upload = SimpleUploadedFile("result.pdf", pdf, content_type="application/pdf")
    return client.post(reverse("tally:verify"), {"pdf": upload}, follow=True)


# ------------------------------------------------------------------------------------------------ tests


def test_genuine_pdf_passes_cli_page_and_pdfsig(genuine, client):
    cert, folder, pdf = genuine
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    named = signing.load_pades_certificate().sha256
    assert f"PASS {STEP}: CouncilSignature: covers the entire file" in proc.stdout
    assert named in proc.stdout and "RESULT: PASS" in proc.stdout
    r = _post(client, pdf)
    html = r.content.decode()
    assert r.status_code == 200 and 'id="verify-result" class="ok"' in html and named in html
    if shutil.which("pdfsig") is None:
        pytest.skip("pdfsig (Debian poppler-utils) is not installed")
    proc = subprocess.run(["pdfsig", str(folder / cert.pdf_name)], capture_output=True, text=True, timeout=60)
    assert "Signature #1" in proc.stdout and "Signature is Valid" in proc.stdout, proc.stdout + proc.stderr
    assert "Total document signed" in proc.stdout, proc.stdout


def test_manifest_names_the_certificate_and_the_pdf_text_shows_it(genuine):
    import json

    cert, _folder, pdf = genuine
    manifest = json.loads(cert.manifest)
    assert manifest["format"] == "pb-result-manifest/2"
    pem = x509.load_pem_x509_certificate((KEYS / "test-pades-cert.pem").read_bytes())
    der_sha = signing.certificate_sha256(pem)
    assert manifest["pdf_signing_certificate"] == {"sha256": der_sha, "subject": pem.subject.rfc4514_string()}
    # The visible text names the fingerprint: extract the page text with poppler when it is there.
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, timeout=60, check=True
    ).stdout.decode()
    assert der_sha in re.sub(r"\s+", "", text)


@pytest.mark.parametrize("kind", list(FORGERIES))
def test_forgery_fails_on_the_cli_and_the_verify_page(genuine, client, tmp_path, kind):
    cert, folder, pdf = genuine
    forged = _forge(kind, pdf, tmp_path)
    assert forged != pdf
    # the same files, so the only difference from the passing genuine case is the PDF
    (folder / cert.pdf_name).write_bytes(forged)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"FAIL {STEP}"))
    assert FORGERIES[kind] in line, proc.stdout
    assert STEP in proc.stdout.splitlines()[-1]  # RESULT: FAIL (..., PDF signature (PAdES), ...)
    if kind != "attachment stream byte":  # (that one leaves no manifest to read)
        # The manifest is genuine: only the document check catches these.
        assert "PASS council signature (Ed25519)" in proc.stdout, proc.stdout
    r = _post(client, forged)
    html = r.content.decode()
    assert r.status_code == 422, html[:500]
    assert 'id="verify-result" class="error"' in html
    assert FORGERIES[kind] in html.replace("&#x27;", "'")


def test_stamped_copy_still_reads_the_manifest_of_the_signed_revision(genuine, tmp_path):
    """A forger who replaces manifest.json in an incremental update is not believed: the verifier reads the
    attachments of the signed revision (and fails the revision added after it)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    _cert, _folder, pdf = genuine
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    arr = w.root["/Names"]["/EmbeddedFiles"]["/Names"]
    for i in range(0, len(arr), 2):
        spec = arr[i + 1].get_object()
        if str(spec.get("/UF", spec.get("/F"))) == mf.MANIFEST_FILE:
            stream = generic.StreamObject(
                {generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile")},
                stream_data=b'{"format":"forged"}',
            )
            spec["/EF"][generic.NameObject("/F")] = w.add_object(stream)
            w.update_container(spec["/EF"])
    out = io.BytesIO()
    w.write(out)
    forged = out.getvalue()
    assert verify.pdf_attachments(forged)[mf.MANIFEST_FILE] == b'{"format":"forged"}'
    report = verify.verify_pdf(forged, public_key=PUB)
    assert not report.ok
    steps = {s.name: s for s in report.steps}
    assert steps[STEP].status == "FAIL" and "added after the signed revision" in steps[STEP].detail
    assert steps["council signature (Ed25519)"].status == "PASS"  # the signed revision's genuine manifest


@pytest.mark.parametrize(
    "garbage",
    [
        b"%PDF-1.7\n" + b"\x00" * 200,
        b"%PDF-1.7\ntrailer<</Root 1 0 R>>\n%%EOF\n",
        b"%PDF" + bytes(range(256)),
    ],
)
def test_garbage_that_looks_like_a_pdf_fails_with_a_reason_not_a_traceback(
    db, keys, client, tmp_path, garbage
):
    path = tmp_path / "garbage.pdf"
    path.write_bytes(garbage)
    proc = verify_cli(path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "FAIL PDF" in proc.stdout
    r = _post(client, garbage)
    assert r.status_code == 422 and 'class="error"' in r.content.decode()


def test_certification_refuses_without_a_certificate_and_names_the_command(world, client, settings, tmp_path):
    from django.test import TestCase

    from .test_views import post

    world.close()
    world.tally()
    world.signoffs()
    settings.PB_SIGNING_CERT_FILE = str(tmp_path / "absent-cert.pem")
    r = post(client, world.council, world, "certify")
    assert r.status_code == 409 and "manage.py council_certgen" in r.content.decode()
    with pytest.raises(signing.KeyMissing, match="council_certgen"):
        election_certify(actor=world.council, election=world.election)
    world.election.refresh_from_db()
    assert world.election.phase == "tallied"
    assert not Certification.objects.filter(election=world.election).exists()
    # the same request once the certificate is there
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert post(client, world.council, world, "certify").status_code == 302
    assert Certification.objects.filter(election=world.election).exists()


def test_certification_refuses_a_certificate_with_someone_elses_key(world, settings, tmp_path):
    _cert_file, forger_key = _self_made_certificate(tmp_path)
    settings.PB_SIGNING_CERT_KEY_FILE = str(forger_key)
    with pytest.raises(signing.KeyMissing, match="does not belong to the certificate"):
        world.through_certify()
    assert not Certification.objects.filter(election=world.election).exists()


def test_council_certgen_makes_a_certificate_that_certifies_and_verifies(world, settings, tmp_path, capsys):
    settings.PB_SIGNING_CERT_FILE = str(tmp_path / "keys" / "council-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(tmp_path / "keys" / "council-pades-key.pem")
    call_command(
        "council_certgen",
        "--common-name",
        "Riverton City Council - results",
        "--organization",
        "Riverton City Council",
        "--country",
        "nl",
        "--years",
        "3",
    )
    out = capsys.readouterr().out
    info = signing.load_pades_certificate()
    assert f"fingerprint (SHA-256 of the DER certificate): {info.sha256}" in out
    assert info.subject == "CN=Riverton City Council - results,O=Riverton City Council,C=NL"
    assert (tmp_path / "keys" / "council-pades-key.pem").stat().st_mode & 0o777 == 0o600
    assert info.not_after.year == dt.datetime.now(dt.UTC).year + 3
    key = serialization.load_pem_private_key((tmp_path / "keys" / "council-pades-key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    with pytest.raises(CommandError, match="exists"):
        call_command("council_certgen", "--common-name", "again")
    with pytest.raises(CommandError, match="two-letter"):
        call_command("council_certgen", "--common-name", "x", "--country", "Netherlands", "--force")
    cert = world.through_certify()
    world.publish()
    folder = election_dir(world.election)
    proc = verify_cli(folder / cert.pdf_name, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert info.sha256 in proc.stdout


def test_a_pdf_signed_with_an_ed25519_certificate_is_refused_at_certification(world, settings, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed25519 council")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, None)
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.PB_SIGNING_CERT_FILE, settings.PB_SIGNING_CERT_KEY_FILE = (
        str(tmp_path / "c.pem"),
        str(tmp_path / "k.pem"),
    )
    with pytest.raises(signing.KeyMissing, match="ECDSA or RSA"):
        world.through_certify()
