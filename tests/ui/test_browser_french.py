"""With French chosen on the language switch, no main page shows English: every visible text
node, and the labels a screen reader reads (aria-label, title, placeholder), is checked against
a small list of common English words. Allowed: what the user named (files, folders, links,
tokens), units, brand and technical words, and text marked as another language (`lang="en"`,
e.g. "English" in the language switch itself). The browser itself asks for English
(Accept-Language), so the switch's cookie is what makes the pages French.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import log_in
from tests.ui.conftest import DESKTOP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Common English words that are not French words too (so "on", "page", "minutes", "an", "or",
# "type", "code", "change" or "sort" are left out).
ENGLISH_WORDS = """
    the and of your you files file folder folders upload uploads uploaded share shares shared
    link links download downloads password with this that these is are not yet from by to in out
    new name size trash delete deleted rename move copy save cancel close log sign create created
    never settings profile token tokens account select all search back home found too many
    requests try again ago now more for it be has have was will can what when who modified owner
    used storage security activity send quick view grid list dark light theme system no open
    expires expired revoke revoked keep label notify allow enter backup app
    authenticator changed someone here there please only any none items item left done
    empty sorted"""
ENGLISH = set(ENGLISH_WORDS.split())
# Names the fixtures gave (user content), units, brand and technical words.
ALLOWED = [
    "Quarterly reports",
    "Inbox for the accountants",
    "for the board",
    "backup script",
    "report.pdf",
    "budget.csv",
    "notes-" + "long" * 20 + ".txt",
    "Locker",
    "Google Authenticator",
]

TEXTS = """() => {
  const texts = [];
  const skipped = (el) => !el || el.closest('script, style, noscript, code, pre, kbd, samp')
    || (el.closest('[lang]') && !el.closest('[lang]').lang.startsWith('fr'));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || skipped(el) || !el.checkVisibility()) continue;
    texts.push(node.textContent.trim());
  }
  for (const el of document.body.querySelectorAll('[aria-label], [title], [placeholder]')) {
    if (skipped(el) || !el.checkVisibility()) continue;
    for (const name of ['aria-label', 'title', 'placeholder']) {
      if (el.getAttribute(name)) texts.push(el.getAttribute(name));
    }
  }
  texts.push(document.title);
  return texts;
}"""


def english_in(page) -> list[str]:
    found = []
    for text in page.evaluate(TEXTS):
        rest = text
        for allowed in ALLOWED:
            rest = rest.replace(allowed, " ")
        words = {w.lower() for w in re.findall(r"[A-Za-z]+(?:'[a-z]+)?", rest)}
        if words & ENGLISH:
            found.append(text[:120])
    return found


def visit(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => !document.querySelector('tbody[aria-busy]')")
    assert page.evaluate("document.documentElement.lang") == "fr", url


def test_no_english_on_any_main_page_with_french_chosen(browser, live_server, populated):
    context = browser.new_context(viewport=DESKTOP, locale="en-US", bypass_csp=True)
    found = {}
    try:
        page = context.new_page()
        # The switch on the log-in page (anonymous), remembered in its cookie from then on.
        page.goto(f"{live_server.url}/accounts/login/")
        assert page.evaluate("document.documentElement.lang") == "en"
        page.select_option("#language-select", "fr")
        page.wait_for_function("() => document.documentElement.lang === 'fr'")
        assert page.url.endswith("/accounts/login/")
        for name, path in populated.public_pages.items():
            visit(page, f"{live_server.url}{path}")
            found[name] = english_in(page)

        # A log-in locked out after too many wrong passwords (429).
        page.goto(f"{live_server.url}/accounts/login/")
        status = None
        for _ in range(10):
            page.fill("#id_username", "ghost")
            page.fill("#id_password", "wrong guess")
            with page.expect_navigation() as answer:
                page.click("#login-form button[type=submit]")
            status = answer.value.status
            if status == 429:
                break
        assert status == 429  # the lock-out page itself is what is read below
        assert page.evaluate("document.documentElement.lang") == "fr"
        found["too many log-ins (429)"] = english_in(page)

        log_in(page, live_server, populated.user)
        for name, path in populated.owner_pages.items():
            visit(page, f"{live_server.url}{path}")
            found[name] = english_in(page)

        # The share dialog, from a file's menu.
        visit(page, f"{live_server.url}{populated.owner_pages['folder']}")
        page.locator("#listing-body tr summary").first.click()
        page.locator("details.menu[open] [data-action=share]").click()
        expect(page.locator("#share-dialog")).to_be_visible()
        found["share dialog"] = english_in(page)
    finally:
        context.close()
    assert {name: texts for name, texts in found.items() if texts} == {}
