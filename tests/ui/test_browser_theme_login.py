"""A visitor's theme (the `locker_theme` cookie of static/js/theme.js) survives logging in when
the profile has no choice of its own, and becomes the profile's; an explicit choice wins."""

import pytest

from tests.fixtures.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def choose_theme_then_log_in(live_server, browser, user, theme: str):
    context = browser.new_context(color_scheme="light")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.select_option("#theme-switch", theme)
    page.wait_for_function(f"document.cookie.includes('locker_theme={theme}')")
    log_in(page, live_server, user)
    drawn = page.evaluate("document.documentElement.dataset.theme")
    shown = page.locator("#theme-switch").input_value()
    context.close()
    user.refresh_from_db()
    return drawn, shown


def test_the_visitors_dark_theme_is_kept_when_they_log_in(live_server, browser, alice):
    assert alice.theme == "system"
    assert choose_theme_then_log_in(live_server, browser, alice, "dark") == ("dark", "dark")
    assert alice.theme == "dark"  # and it follows them to other browsers from now on


def test_an_explicit_choice_in_the_profile_wins_over_the_cookie(live_server, browser, alice):
    alice.theme = "light"
    alice.save(update_fields=["theme"])
    assert choose_theme_then_log_in(live_server, browser, alice, "dark") == ("light", "light")
    assert alice.theme == "light"
