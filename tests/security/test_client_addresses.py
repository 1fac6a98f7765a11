"""Issue 11: who a throttle counts, and who it must not refuse.

- The API's anonymous rate limit used the client's own X-Forwarded-For header (DRF without
  NUM_PROXIES), so a new header value was a fresh allowance; LOCKER_PROXY_COUNT was in fact read
  by nothing (django-axes only honours it through django-ipware, which is not installed), so
  behind a proxy every client shared the proxy's address.
- The unknown-token throttle refused valid links to everyone behind one address (a company
  NAT) once others had opened dead ones.
- An IPv6 host holds a whole /64 and can pick a new address in it for every request: every
  throttle counts a /64 as one address.
"""

import secrets

import pytest
from django.test import Client, RequestFactory
from rest_framework.throttling import AnonRateThrottle

from accounts.throttles import BAD_LINK_THROTTLE, EMAIL_REQUEST_THROTTLE
from sharing.access import unknown_token_throttle
from sharing.upload_links import upload_link_create
from tests.security.conftest import make_folder

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
# One /64: a host rotating privacy addresses, or picking a new one for each request.
SAME_64 = [f"2001:db8:1:2:{n:x}:{n:x}:{n:x}:{n:x}" for n in range(1, 400)]
OTHER_64 = "2001:db8:1:3::1"


@pytest.fixture
def tight_anon_rate(monkeypatch):
    monkeypatch.setitem(AnonRateThrottle.THROTTLE_RATES, "anon", "3/min")


def anon_api_statuses(headers_list) -> list[int]:
    """An AllowAny API route (the docs page), so the anonymous rate applies."""
    return [Client(**headers).get("/api/v1/docs/").status_code for headers in headers_list]


# --- X-Forwarded-For and LOCKER_PROXY_COUNT -------------------------------------------------


def test_spoofed_x_forwarded_for_does_not_reset_the_anonymous_api_limit(tight_anon_rate, settings):
    settings.LOCKER_PROXY_COUNT = 0
    statuses = anon_api_statuses(
        {"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": f"10.0.0.{n}"} for n in range(5)
    )
    assert statuses == [200, 200, 200, 429, 429]


def test_behind_one_proxy_the_address_the_proxy_saw_is_the_client(tight_anon_rate, settings):
    settings.LOCKER_PROXY_COUNT = 1
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    # The client writes whatever it likes on the left; the proxy appends what it saw.
    spoofed = [{**via_proxy, "HTTP_X_FORWARDED_FOR": f"10.0.0.{n}, 203.0.113.5"} for n in range(4)]
    assert anon_api_statuses(spoofed) == [200, 200, 200, 429]
    # Another client behind the same proxy has its own allowance.
    other = {**via_proxy, "HTTP_X_FORWARDED_FOR": "10.0.0.1, 203.0.113.6"}
    assert anon_api_statuses([other]) == [200]


def test_behind_one_proxy_the_log_in_lock_out_is_per_client_not_per_proxy(alice, settings):
    settings.LOCKER_PROXY_COUNT = 1

    def via_proxy(client_address: str, spoof: str = "") -> Client:
        forwarded = f"{spoof}, {client_address}" if spoof else client_address
        return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    for n in range(5):
        via_proxy("203.0.113.5", spoof=f"10.0.0.{n}").post(
            LOGIN, {"username": "alice", "password": "wrong guess"}
        )
    right = {"username": "alice", "password": "alice-password-1"}
    assert via_proxy("203.0.113.5", spoof="10.9.9.9").post(LOGIN, right).status_code == 429
    # alice herself, behind the same proxy from her own address, is not locked out.
    assert via_proxy("203.0.113.6").post(LOGIN, right).status_code == 302


def test_the_client_address_helper_reads_the_right_hop(settings):
    from locker.network import client_ip, client_network

    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7 ,203.0.113.5"
    )
    settings.LOCKER_PROXY_COUNT = 0
    assert client_ip(request) == "127.0.0.1"
    settings.LOCKER_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.5"
    settings.LOCKER_PROXY_COUNT = 2
    assert client_ip(request) == "198.51.100.7"
    settings.LOCKER_PROXY_COUNT = 9  # fewer hops than proxies: the left-most there is
    assert client_ip(request) == "1.1.1.1"
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
    junk = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="junk")
    assert client_ip(junk) is None and client_network(junk) == "unknown"


# --- Valid links are never refused because of others' misses ----------------------------------


def test_a_valid_link_works_behind_a_nat_whose_other_users_opened_dead_ones(
    alice, report, share_of
):
    share, token = share_of(report)
    _link, upload_token = upload_link_create(owner=alice, folder=make_folder(alice, "Inbox"))
    office = "198.51.100.7"
    for _ in range(unknown_token_throttle().limit):
        Client(REMOTE_ADDR=office).get(f"/s/{secrets.token_urlsafe(32)}")
    colleague = Client(REMOTE_ADDR=office)
    assert colleague.get(f"/s/{secrets.token_urlsafe(32)}").status_code == 429
    assert colleague.get(f"/s/{token}").status_code == 200
    assert colleague.get(f"/s/{token}/download").status_code == 200
    assert colleague.get(f"/r/{upload_token}").status_code == 200


# --- An IPv6 /64 is one address for every throttle --------------------------------------------


def test_ipv6_addresses_count_per_64_and_ipv4_mapped_as_ipv4():
    from locker.network import network_of

    assert network_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::"
    assert network_of("2001:db8:1:2::1") == network_of("2001:db8:1:2:ffff::1")
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")
    assert network_of("::ffff:198.51.100.7") == network_of("198.51.100.7") == "198.51.100.7"
    assert network_of("198.51.100.7") != network_of("198.51.100.8")
    assert network_of("not an address") == network_of(None) == "unknown"


def test_unknown_token_guesses_from_one_ipv6_64_share_one_limit(report, share_of):
    for address in SAME_64[: unknown_token_throttle().limit]:
        assert Client(REMOTE_ADDR=address).get(f"/s/{secrets.token_urlsafe(32)}").status_code == 404
    another_host = Client(REMOTE_ADDR=SAME_64[-1])
    assert another_host.get(f"/s/{secrets.token_urlsafe(32)}").status_code == 429
    assert Client(REMOTE_ADDR=OTHER_64).get(f"/s/{secrets.token_urlsafe(32)}").status_code == 404


def test_share_password_guesses_from_one_ipv6_64_share_one_limit(report, share_of, settings):
    settings.LOCKER_SHARE_PASSWORD_ATTEMPTS = 3
    _share, token = share_of(report, password="open sesame")

    def guess(address: str, password: str) -> int:
        return (
            Client(REMOTE_ADDR=address)
            .get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD=password)
            .status_code
        )

    assert [guess(address, "wrong") for address in SAME_64[:3]] == [401, 401, 401]
    assert guess(SAME_64[3], "open sesame") == 429
    assert guess(OTHER_64, "open sesame") == 200


def test_log_in_failures_from_one_ipv6_64_share_one_lock_out(alice):
    for address in SAME_64[:5]:
        Client(REMOTE_ADDR=address).post(LOGIN, {"username": "alice", "password": "wrong"})
    right = {"username": "alice", "password": "alice-password-1"}
    assert Client(REMOTE_ADDR=SAME_64[5]).post(LOGIN, right).status_code == 429
    assert Client(REMOTE_ADDR=OTHER_64).post(LOGIN, right).status_code == 302


def test_anonymous_api_requests_from_one_ipv6_64_share_one_rate(tight_anon_rate):
    statuses = anon_api_statuses({"REMOTE_ADDR": address} for address in SAME_64[:4])
    assert statuses == [200, 200, 200, 429]
    assert anon_api_statuses([{"REMOTE_ADDR": OTHER_64}]) == [200]


def test_email_requests_and_bad_account_links_from_one_ipv6_64_share_one_limit(alice):
    for address in SAME_64[: EMAIL_REQUEST_THROTTLE.limit]:
        Client(REMOTE_ADDR=address).post("/accounts/password_reset/", {"email": "x@example.com"})
    reset = Client(REMOTE_ADDR=SAME_64[-1]).post(
        "/accounts/password_reset/", {"email": "x@example.com"}
    )
    assert reset.status_code == 429
    for address in SAME_64[: BAD_LINK_THROTTLE.limit]:
        Client(REMOTE_ADDR=address).get("/accounts/invitation/guess/")
    assert Client(REMOTE_ADDR=SAME_64[-1]).get("/accounts/invitation/guess/").status_code == 429
    assert Client(REMOTE_ADDR=OTHER_64).get("/accounts/invitation/guess/").status_code == 410


def test_two_factor_codes_from_one_ipv6_64_share_one_limit(alice):
    from accounts.twofactor import CODE_THROTTLE_NETWORK
    from tests.accounts.twofactor_helpers import attacker_guesses, enrol_through_pages

    enrol_through_pages(Client(), alice)
    tried = 0
    for address in SAME_64[:5]:
        statuses = attacker_guesses(alice, address, sessions=1)
        if statuses[0] == 429:
            break
        tried += len(statuses)
    assert tried == CODE_THROTTLE_NETWORK.limit
    assert attacker_guesses(alice, OTHER_64, sessions=1)[0] == 200
