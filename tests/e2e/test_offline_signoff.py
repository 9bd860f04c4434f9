"""Browser: an official downloads the exported .pb files from the count page, counts them offline with
`python -m tally run ... --json` exactly as the page says, joins the results as the page says and uploads
them: the sign-off is recorded as a matching offline re-count. The council then previews the certified PDF,
publishes, and the public results name the offline re-count."""

import hashlib
import os
import re
import subprocess
import sys

from playwright.sync_api import expect

from tally.models import SignOff
from tests.tally.conftest import KEYS, ROOT, World


def test_official_signs_off_with_an_offline_count_of_the_downloaded_files(
    browser, base_url, login, settings, tmp_path
):
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(KEYS / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(KEYS / "test-pades-key.pem")
    settings.PB_SIGNOFF_QUORUM = 2
    world = World(n_online=30, n_paper=0)
    world.close()
    world.tally()
    manage = f"{base_url}/results/{world.election.slug}/manage/"

    def as_user(user):
        context = browser.new_context(locale="en-GB", accept_downloads=True)
        context.set_default_timeout(20_000)
        page = context.new_page()
        login(page, user.username)
        page.goto(manage)
        return context, page

    ctx, page = as_user(world.o2)
    work = tmp_path / "laptop"
    work.mkdir()
    links = page.locator("#offline-steps a.offline-file")
    expect(links).to_have_count(2)
    for i in range(links.count()):
        with page.expect_download() as dl:
            links.nth(i).click()
        download = dl.value
        download.save_as(work / download.suggested_filename)
    saved = sorted(p.name for p in work.iterdir())
    assert saved == ["ballots-north.pb", "ballots-south.pb"]
    # the downloads are the files the page lists, byte for byte (their SHA-256 is in the files table)
    table = page.locator("#export-files").inner_text()
    for name in saved:
        assert hashlib.sha256((work / name).read_bytes()).hexdigest() in table

    commands = page.locator("#offline-commands").inner_text().strip().splitlines()
    bundle = page.locator("#offline-bundle").inner_text().strip()
    assert [re.sub(r"\s+", " ", c) for c in commands] == [
        "python -m tally run ballots-north.pb --json > north.json",
        "python -m tally run ballots-south.pb --json > south.json",
    ]
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for line in [*commands, bundle]:  # as an official would paste them into a shell
        proc = subprocess.run(  # noqa: S602
            sys.executable + line.removeprefix("python"),
            shell=True,
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
    assert (work / "signoff.json").exists()

    page.locator("input[name=result]").set_input_files(work / "signoff.json")
    page.get_by_role("button", name="Sign off with my offline count").click()
    expect(page.get_by_text("Your count matches the official count.")).to_be_visible()
    mine = page.locator('#signoffs li[data-method="upload"]')
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-matched", "yes")
    expect(mine).to_contain_text("offline re-count, uploaded")
    expect(page.locator("#signoff-mine")).to_be_visible()  # no second sign-off offered
    ctx.close()
    s = SignOff.objects.get(official=world.o2)
    assert s.method == SignOff.Method.UPLOAD and s.matched and s.withdrawn_at is None

    ctx, page = as_user(world.o3)
    page.get_by_role("button", name="Re-count from the exported files and sign off").click()
    expect(page.get_by_text("Your re-count matches the official count.")).to_be_visible()
    ctx.close()

    ctx, page = as_user(world.council)
    page.goto(base_url + "/")
    page.locator(f"#todo-{world.election.slug}-certify").click()
    page.get_by_role("button", name="Certify and sign the result").click()
    _through_the_job(page, base_url, world.election.slug)
    preview = page.locator("#pdf-preview")
    expect(preview).to_be_visible()
    pdf = page.request.get(base_url + preview.get_attribute("src"))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    page.get_by_role("button", name="Publish the results").click()
    _through_the_job(page, base_url, world.election.slug)
    expect(page.locator("#phase")).to_have_text("Published")
    page.goto(f"{base_url}/results/{world.election.slug}/")
    expect(page.locator("#signoffs")).to_contain_text("offline re-count")
    expect(page.locator("#signoffs")).to_contain_text("re-count on the server")
    ctx.close()


def _through_the_job(page, base_url, slug):
    """Certifying and publishing run as jobs: wait for the job's page to say done, then back to the manage
    page."""
    expect(page.locator("#job-state")).to_have_text("Done")
    page.goto(f"{base_url}/results/{slug}/manage/")
