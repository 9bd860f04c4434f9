"""Browser: a city's own website (another origin) frames one pot's result and reads the API from a script;
the full results page refuses to be framed there."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import expect

from tests.tally.conftest import KEYS, World


def test_a_city_site_embeds_the_result_and_reads_the_api(browser, base_url, settings, tmp_path):
    settings.PB_VAR_DIR = tmp_path / "var"
    settings.PB_SIGNING_KEY_FILE = str(KEYS / "test-council-ed25519.key")
    settings.PB_SIGNING_CERT_FILE = str(KEYS / "test-pades-cert.pem")
    settings.PB_SIGNING_CERT_KEY_FILE = str(KEYS / "test-pades-key.pem")
    settings.PB_SIGNOFF_QUORUM = 2
    world = World(n_online=30, n_paper=0)

    def publish():  # PAdES signing runs its own event loop: not inside Playwright's
        world.through_certify()
        world.publish()

    worker = threading.Thread(target=publish)
    worker.start()
    worker.join()
    assert world.election.phase == "published"
    slug = world.election.slug
    embed = f"{base_url}/results/{slug}/embed/north/"
    results = f"{base_url}/results/{slug}/"
    host_page = f"""<!doctype html><html lang="en"><title>City</title><body>
<iframe id="embed" title="Funded projects" src="{embed}" width="600" height="400"></iframe>
<iframe id="full" title="Results" src="{results}" width="600" height="400"></iframe>
</body></html>"""

    # The city's site: another origin, served by a real local server (a page the browser only imagined
    # would count as public, and its frames of a local address are refused before our headers are read).
    class CitySite(BaseHTTPRequestHandler):
        def do_GET(self):
            body = host_page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), CitySite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    city = f"http://127.0.0.1:{server.server_address[1]}/"
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(city)
    frame = page.frame_locator("#embed")
    expect(frame.locator("#embed-funded")).to_be_visible(timeout=20_000)
    expect(frame.locator("#embed-link")).to_have_attribute("href", f"{results}#h-north")
    data = json.loads(
        page.evaluate(f"fetch('{base_url}/api/v1/elections/{slug}/results').then(r => r.text())")
    )
    north = next(p for p in data["pots"] if p["slug"] == "north")
    for project in north["funded"]:
        expect(frame.locator("#embed-funded")).to_contain_text(project["name"])
    # The full results page is not frameable: the browser shows nothing of it inside the city's page.
    full = page.locator("#full").element_handle().content_frame()
    full.wait_for_load_state()
    assert full.locator("#receipt-check").count() == 0
    # ...while the same page opened on its own has it (the check above is not vacuous).
    alone = context.new_page()
    alone.goto(results)
    expect(alone.locator("#receipt-check")).to_be_visible()
    context.close()
    server.shutdown()
