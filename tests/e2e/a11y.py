"""axe-core (the copy shipped in axe-playwright-python) on a Playwright page, at phone and desktop widths."""

from axe_playwright_python.sync_playwright import Axe

WIDTHS = ((390, 844), (1280, 800))
BLOCKING = {"serious", "critical"}


def axe_serious(page) -> list[str]:
    """The serious or critical violations on the page as it is now: "rule-id: target, ..." per violation."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): " + ", ".join(str(n["target"]) for n in v["nodes"])
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def assert_accessible(page, name: str = "") -> None:
    """No serious or critical axe violation at 390 px and at 1280 px wide (the viewport is left at 1280).
    The page needs JavaScript enabled: axe runs in it (page.evaluate waits forever otherwise)."""
    problems = []
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        problems += [f"{name or page.url} at {width}px: {p}" for p in axe_serious(page)]
    assert not problems, "\n".join(problems)
