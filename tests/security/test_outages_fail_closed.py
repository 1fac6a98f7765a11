"""A cache outage must not open what the cache guards: link-password throttling fails closed.

The password throttle counts attempts in the shared cache. With the cache unreachable (a real
Redis behind a TCP proxy that is cut, in front of a real gunicorn: tests/fixtures/outages.py) a
password attempt, even the right one, unlocks nothing and downloads nothing: it answers 503
naming the cache. Once the cache is back, the right password works again.
"""

from sharing.tokens import UNLOCK_COOKIE
from tests.fixtures.outages import SHARE_PASSWORD

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def password_form(password: str) -> bytes:
    return ("password=" + password.replace(" ", "+")).encode()


def test_share_password_attempts_are_refused_while_the_cache_is_down(outage_server):
    server = outage_server
    page = f"/s/{server.share_token}"
    with server.cut("cache"):
        for password in (SHARE_PASSWORD, "wrong password"):
            answer = server.request("POST", page, body=password_form(password), headers=FORM)
            assert answer.status == 503, answer.text[:300]
            assert "cache" in answer.text
            assert answer.headers["retry-after"]
            assert not any(cookie.startswith(UNLOCK_COOKIE) for cookie in answer.cookies)
            download = server.get(f"{page}/download", headers={"X-Share-Password": password})
            assert download.status == 503
            assert server.data[:1000] not in download.body
    unlocked = server.request("POST", page, body=password_form(SHARE_PASSWORD), headers=FORM)
    assert unlocked.status == 303
    assert any(cookie.startswith(UNLOCK_COOKIE) for cookie in unlocked.cookies)
    download = server.get(f"{page}/download", headers={"X-Share-Password": SHARE_PASSWORD})
    assert download.status == 200
    assert download.body == server.data
