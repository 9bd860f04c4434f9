"""Steps of the browser tests that more than one test takes: a resident's account (sign up, confirm, sign in,
password reset, each through the link of the e-mail in Django's test outbox), proposing with a map location
and a photo, supports, comments (follow, post, report, hide), an official's review and phase changes, and
`FirstVisits`, the axe check of each page the first time a journey reaches it.

The live server runs in the test's process, so `django.core.mail.outbox` holds what it sent, and the tests'
immediate task backend (tests/conftest.py) means a task's e-mail is there when the request that queued it
returns."""

from __future__ import annotations

import io
import json
import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from django.urls import Resolver404, resolve
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.a11y import axe_serious

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_LINK = re.compile(r"https?://[^/\s]+(/accounts/[^\s]+)")
PASSWORD_LABEL = re.compile(r"^Password:?$")
PHONE = {"width": 390, "height": 844}


# --- browser contexts --------------------------------------------------------------------------------------


def new_page(browser, **options):
    """A fresh browser context (its own cookies: one person) in British English and its page."""
    context = browser.new_context(locale="en-GB", **options)
    context.set_default_timeout(10_000)
    return context, context.new_page()


@contextmanager
def person(browser, **options):
    """`with person(browser, viewport=PHONE) as page:` a page in a context of its own, closed afterwards."""
    context, page = new_page(browser, **options)
    try:
        yield page
    finally:
        context.close()


class FirstVisits:
    """axe-core, and no sideways scrolling, on each page the first time a journey reaches it, at `width`
    (pages told apart by their URL pattern, so a second proposal's page is not checked again). `checked`
    lists the URL names in the order they were checked; `watch(page)` records every page a browser page goes
    to, and `missed()` names those visited but never checked."""

    def __init__(self, width: int = PHONE["width"]) -> None:
        self.width = width
        self.checked: list[str] = []
        self.visited: list[str] = []

    @staticmethod
    def route(url: str) -> str:
        path = urlsplit(url).path
        try:
            return resolve(path).view_name
        except Resolver404:
            return path

    def watch(self, page) -> None:
        page.on("framenavigated", lambda frame: frame.parent_frame is None and self.visited.append(frame.url))

    def missed(self) -> list[str]:
        return sorted({self.route(url) for url in self.visited if url.startswith("http")} - set(self.checked))

    def __call__(self, page) -> None:
        key = self.route(page.url)
        if key in self.checked:
            return
        page.wait_for_load_state("networkidle")
        assert (page.viewport_size or {}).get("width") == self.width, page.viewport_size
        problems = axe_serious(page)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > self.width:
            problems.append(f"scrolls sideways ({scroll}px wide)")
        assert not problems, f"{page.url} ({key}) at {self.width}px:\n" + "\n".join(problems)
        self.checked.append(key)


# --- e-mail ------------------------------------------------------------------------------------------------


def account_link(message) -> str:
    """The path of the one /accounts/ link in an e-mail (confirmation, password reset)."""
    found = ACCOUNT_LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


def mails_to(outbox, address: str) -> list:
    return [m for m in outbox if m.to == [address]]


# --- accounts ----------------------------------------------------------------------------------------------


def sign_up(page, base_url, email: str, password: str) -> None:
    """Create an account; the confirmation e-mail is then the last one in the outbox."""
    page.goto(f"{base_url}/accounts/signup/")
    fill_sign_up(page, email, password)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Confirm your e-mail address"))


def fill_sign_up(page, email: str, password: str, again: str | None = None) -> None:
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label(PASSWORD_LABEL).fill(password)
    page.get_by_label(re.compile(r"^Password again")).fill(password if again is None else again)
    page.locator("main").get_by_role("button", name="Create account").click()


def confirm_email(page, base_url, message, on_page=None) -> None:
    """Open the confirmation link of `message` and confirm (`on_page(page)` runs on the confirmation page)."""
    page.goto(base_url + account_link(message))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Confirm your e-mail address"))
    if on_page:
        on_page(page)
    page.get_by_role("button", name="Confirm").click()


def sign_in(page, base_url, login: str, password: str, on_page=None) -> None:
    """Sign in with a username or an e-mail address (no check that it worked: a wrong password is a test)."""
    page.goto(f"{base_url}/accounts/login/")
    if on_page:
        on_page(page)
    page.get_by_label("Username or e-mail address").fill(login)
    page.get_by_label(PASSWORD_LABEL).fill(password)
    page.locator("main").get_by_role("button", name="Sign in").click()


def password_reset_ask(page, base_url, email: str, on_page=None) -> None:
    """From the sign-in page, ask for a reset link (`on_page(page)` runs on each page on the way)."""
    page.goto(f"{base_url}/accounts/login/")
    if on_page:
        on_page(page)
    page.get_by_role("link", name="Forgot your password?").first.click()
    if on_page:
        on_page(page)
    page.get_by_label("E-mail address").fill(email)
    page.locator("main").get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Check your e-mail"))


def password_reset_set(page, base_url, message, new: str, on_page=None) -> None:
    """Open the reset link of `message` and set the new password (`on_page` as above)."""
    page.goto(base_url + account_link(message))
    if on_page:
        on_page(page)
    page.get_by_label(re.compile(r"^New password:?$")).fill(new)
    page.get_by_label(re.compile(r"^New password again")).fill(new)
    page.locator("main").get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password changed")


# --- proposals and maps ------------------------------------------------------------------------------------


def district_shapes() -> dict:
    """The demo's district outlines (GeoJSON by pot slug): Northbank and Old Town, among others."""
    return json.loads((ROOT / "fixtures/demo/district_shapes.json").read_text())


def photo(tmp_path, name: str = "IMG_0001.jpg") -> Path:
    """A phone photo with a GPS position in its EXIF (which the site must strip)."""
    path = tmp_path / name
    exif = Image.Exif()
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), "orange").save(buf, "JPEG", exif=exif)
    path.write_bytes(buf.getvalue())
    return path


def fill_proposal(
    page, *, title: str, description: str, district: str, category: str, cost: str, location: str
) -> None:
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill(description)
    page.get_by_label("District").select_option(label=district)
    page.get_by_label("Category").select_option(label=category)
    page.get_by_label("Estimated cost").fill(cost)
    page.get_by_label("Location (address or place)").fill(location)


def pick_map_centre(page, shapes: int = 2) -> tuple[float, float]:
    """Click the middle of the proposal form's map (once its `shapes` district outlines are drawn); the pin's
    latitude and longitude as the form now holds them."""
    the_map = page.locator("#location-map")
    expect(the_map.locator("path.leaflet-interactive")).to_have_count(shapes)
    the_map.scroll_into_view_if_needed()
    box = the_map.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_label("Latitude (optional)")).not_to_have_value("")
    expect(page.locator("#location-map-status")).to_contain_text("Pin placed at")
    return (
        float(page.get_by_label("Latitude (optional)").input_value()),
        float(page.get_by_label("Longitude (optional)").input_value()),
    )


def attach_photo(page, path: Path, alt: str) -> None:
    page.get_by_label("Image (optional)").set_input_files(str(path))
    page.get_by_label("What the picture shows").fill(alt)


def submit_proposal(page) -> None:
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#proposal-status")).to_have_text("Submitted")


# --- supports ----------------------------------------------------------------------------------------------


def support(page, count_text: str) -> None:
    """Support the proposal on this page (HTMX); `count_text`: its count afterwards."""
    page.get_by_role("button", name="Support this proposal").click()
    expect(page.locator("#support-count")).to_have_text(count_text)
    expect(page.get_by_role("button", name="Take my support back")).to_be_visible()


# --- comments and follows ----------------------------------------------------------------------------------


def follow(page) -> None:
    page.get_by_role("button", name="Follow this proposal").click()
    expect(page.locator("#follow-state")).to_have_text("You follow this proposal.")


def post_comment(page, text: str) -> None:
    """Post a comment on the proposal on this page; it is then on the page."""
    page.get_by_label("Your comment").fill(text)
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator("article.comment").filter(has_text=text)).to_have_count(1)


def report_comment(page, author: str, reason: str, on_page=None) -> None:
    """Report `author`'s comment on the proposal on this page (`on_page(page)` runs on the report form)."""
    page.get_by_role("link", name=f"Report comment by {author}").click()
    if on_page:
        on_page(page)
    page.get_by_label("What is wrong with this comment? (optional)").fill(reason)
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("status")).to_contain_text("The officials will look at this comment")


def open_hide_comment(page, base_url, slug: str, comment_pk: int, on_page=None) -> None:
    """From the election's page, through the reported comments, to the form that hides the comment."""
    page.goto(f"{base_url}/elections/{slug}/")
    page.get_by_role("link", name="1 reported comment awaits a decision").click()
    if on_page:
        on_page(page)
    page.get_by_role("link", name=f"Review and hide comment {comment_pk}").click()


def hide_comment(page, comment_pk: int, reason: str) -> None:
    """On the hide form: give the public reason and hide; the comment's place then says so."""
    page.get_by_label("Public reason for hiding it").fill(reason)
    page.get_by_role("button", name="Hide comment").click()
    expect(page.locator(f"#comment-{comment_pk}")).to_contain_text("Hidden by the officials.")


# --- officials ---------------------------------------------------------------------------------------------


def review_feasible(page, base_url, slug: str, code: str, on_page=None) -> None:
    """Review a proposal as feasible from its review page."""
    page.goto(f"{base_url}/proposals/{slug}/{code}/review/")
    if on_page:
        on_page(page)
    page.get_by_label("Feasible: goes on the ballot").check()
    page.get_by_role("button", name="Save review").click()
    expect(page.get_by_role("status")).to_contain_text(f"Review of {code} saved")


def advance_phase(page, base_url, slug: str, phase: str, on_page=None) -> None:
    """From the election's manage page, move it to the next phase, whose label is `phase`."""
    page.goto(f"{base_url}/elections/{slug}/manage/")
    if on_page:
        on_page(page)
    page.get_by_role("link", name=f"Move to “{phase}”…").click()
    if on_page:
        on_page(page)
    page.get_by_role("button", name=f"Yes, move to “{phase}”").click()
    expect(page.get_by_role("status")).to_contain_text(f"The election is now in the “{phase}” phase.")
