"""axe-core (the npm package, pinned in tests/tus/js/package.json) run inside every main page, at
desktop and phone size: no violation of impact serious or critical, and none of the
`page-has-heading-one` or `empty-table-header` kind whatever its impact.

The colour scheme is a parameter (Playwright's `color_scheme`): dark mode runs the same pages.
"""

import pytest

from tests.fixtures.browser import log_in
from tests.ui.conftest import AXE, DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALWAYS_REPORTED = {"page-has-heading-one", "empty-table-header"}
SCHEMES = ["light", "dark"]


def axe_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    problems = []
    for violation in results["violations"]:
        if violation["impact"] in {"serious", "critical"} or violation["id"] in ALWAYS_REPORTED:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:3]]
            problems.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return problems


def visit(page, url: str) -> None:
    page.goto(url)
    # The file pages fill their listing from the API; axe runs on the filled page.
    page.wait_for_function("() => !document.querySelector('tbody[aria-busy]')")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_accessibility_violation_on_any_main_page(
    browser, live_server, populated, bob, viewport, scheme
):
    found = {}
    # Anonymous: the public pages; the owner: theirs; someone else: a page they may not see (403).
    visits = [
        (None, populated.public_pages),
        (populated.user, populated.owner_pages),
        (bob, {"forbidden (403)": "/accounts/audit/"}),
    ]
    for user, pages in visits:
        context = browser.new_context(viewport=viewport, color_scheme=scheme, bypass_csp=True)
        try:
            page = context.new_page()
            if user is not None:
                log_in(page, live_server, user)
            for name, path in pages.items():
                visit(page, f"{live_server.url}{path}")
                problems = axe_problems(page)
                if problems:
                    found[name] = problems
        finally:
            context.close()
    assert found == {}
