"""axe-core on a Playwright page: the one accessibility check of the browser tests.

axe-core 4.10.3 is vendored (tests/e2e/vendor/axe-core, from the npm package, MPL-2.0): no network, no extra
Python package. It is injected through the browser's devtools channel, so the site's Content-Security-Policy
stays as it is. The page needs JavaScript enabled: axe runs in it."""

from pathlib import Path

SOURCE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = ((390, 844), (1280, 800))
BLOCKING = {"serious", "critical"}


def axe_violations(page) -> list[dict]:
    """The serious and critical violations on the page as it is now (rule id, impact, help, up to five
    offending elements)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(SOURCE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v.get("impact") in BLOCKING
    ]


def axe_serious(page) -> list[str]:
    """The same, one line each: "rule-id (impact): targets"."""
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in axe_violations(page)]


def assert_accessible(page, name: str = "", widths=WIDTHS) -> None:
    """No serious or critical violation at 390 px and at 1280 px wide (the viewport is left at the last)."""
    problems = []
    for width, height in widths:
        page.set_viewport_size({"width": width, "height": height})
        problems += [f"{name or page.url} at {width}px: {p}" for p in axe_serious(page)]
    assert not problems, "\n".join(problems)
