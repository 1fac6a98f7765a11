"""The whole single sign-on in a real Chromium: Locker's log-in page, the provider's own log-in
page (oidc-provider's), back to Locker logged in; then logout through the provider."""

import pytest

from accounts.models import User
from tests.oidc.conftest import NodeProvider, sso_settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_provider(tmp_path, settings, live_server):
    provider = NodeProvider(tmp_path, base_url=live_server.url)
    sso_settings(settings, provider.issuer, base_url=live_server.url)
    settings.LOCKER_PASSWORD_LOGIN = "none"
    yield provider
    provider.stop()


def log_in_at_the_provider(page, provider, username):
    """From Locker's log-in page, through the provider's own form, back to Locker logged in."""
    page.click("#oidc-login")
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_selector("#logout")


def test_log_in_through_the_providers_pages_and_out_again(page, live_server, live_provider):
    live_provider.account("ann", groups=["locker", "locker-admins"], name="Ann Example")

    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("#login-form").count() == 0  # LOCKER_PASSWORD_LOGIN=none
    log_in_at_the_provider(page, live_provider, "ann")

    assert page.url.startswith(live_server.url)
    user = User.objects.get(username="ann")
    assert user.is_staff and user.display_name == "Ann Example"

    page.click("#logout")
    page.wait_for_url(f"{live_provider.issuer}/session/end**")
    page.click("button[name=logout]")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.click("#oidc-login")
    # The provider's session ended too: it asks who is there.
    page.wait_for_selector("input[name=login]")


def test_logout_still_reaches_the_provider_when_a_page_request_meets_the_ended_session(
    page, live_server, live_provider
):
    """The files page asks for /api/v1/me/ as it loads; when that answer (401, the session just
    ended) lands while the log-out form's answer is on its way, the page must not go to the
    log-in form instead, or the provider's session would outlive Locker's."""
    live_provider.account("ann", groups=["locker"])
    page.goto(f"{live_server.url}/accounts/login/")
    log_in_at_the_provider(page, live_provider, "ann")
    page.wait_for_load_state("networkidle")

    held = []
    page.route("**/api/v1/me/**", lambda route: held.append(route))
    with page.expect_request("**/api/v1/me/**"):
        page.reload()
    page.wait_for_selector("#logout")

    def logout_answered_after_the_401(route):
        answer = route.fetch()  # Locker's session ends here
        for request in held:
            request.continue_()  # ...so these are answered 401 now
        page.wait_for_timeout(1000)
        route.fulfill(response=answer)

    page.route("**/accounts/logout/", logout_answered_after_the_401)
    page.click("#logout")
    page.wait_for_url(f"{live_provider.issuer}/session/end**")
