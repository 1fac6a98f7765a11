from django.test import Client, override_settings

from sharing.services import share_update
from sharing.tokens import UNLOCK_COOKIE


def unlock(client, token, password):
    return client.post(f"/s/{token}", {"password": password})


def test_protected_page_asks_for_the_password_and_hides_the_file(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="password"' in body
    assert "report.txt" not in body


def test_protected_download_without_password_answers_401(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = client.get(f"/s/{token}/download")
    assert response.status_code == 401
    assert b"quarterly" not in response.content


def test_protected_preview_and_range_need_the_password_too(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    assert client.get(f"/s/{token}/preview").status_code == 401
    assert client.get(f"/s/{token}/download", HTTP_RANGE="bytes=5-").status_code == 401
    assert client.head(f"/s/{token}/download").status_code == 401


def test_right_password_sets_a_cookie_scoped_to_the_share(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = unlock(client, token, "open sesame")
    assert response.status_code == 303
    cookie = response.cookies[UNLOCK_COOKIE]
    assert cookie["path"] == f"/s/{token}"
    assert cookie["httponly"]
    download = client.get(f"/s/{token}/download")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"quarterly")


def test_wrong_password_is_refused_next_to_the_field(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = unlock(client, token, "guess")
    assert response.status_code == 403
    assert "The password is not correct." in response.content.decode()
    assert UNLOCK_COOKIE not in response.cookies


def test_header_password_works_for_non_browser_clients(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="open sesame")
    assert response.status_code == 200
    wrong = client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="nope")
    assert wrong.status_code == 401


def test_an_unlock_does_not_open_another_share(client, alice, report, share_of):
    _first, token_a = share_of(report, password="same password")
    _second, token_b = share_of(report, password="same password")
    unlocked = unlock(client, token_a, "same password")
    # Replay A's cookie on B's path, as an attacker would.
    client.cookies[UNLOCK_COOKIE] = unlocked.cookies[UNLOCK_COOKIE].value
    client.cookies[UNLOCK_COOKIE]["path"] = f"/s/{token_b}"
    assert client.get(f"/s/{token_b}/download").status_code == 401


def test_changing_the_password_invalidates_earlier_unlocks(client, report, share_of):
    share, token = share_of(report, password="first password")
    unlock(client, token, "first password")
    assert client.get(f"/s/{token}/download").status_code == 200
    share_update(share=share, password="second password")
    assert client.get(f"/s/{token}/download").status_code == 401


def test_removing_and_setting_the_same_password_again_still_invalidates(client, report, share_of):
    share, token = share_of(report, password="pw one two")
    unlock(client, token, "pw one two")
    share_update(share=share, password="pw one two")  # a new salt: a new hash
    assert client.get(f"/s/{token}/download").status_code == 401


def test_a_forged_cookie_is_ignored(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    client.cookies[UNLOCK_COOKIE] = "1:forged:signature"
    assert client.get(f"/s/{token}/download").status_code == 401


@override_settings(LOCKER_SHARE_PASSWORD_ATTEMPTS=3)
def test_wrong_passwords_are_throttled_with_retry_after(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    for _ in range(3):
        assert unlock(client, token, "wrong").status_code == 403
    fourth = unlock(client, token, "wrong")
    assert fourth.status_code == 429
    assert 0 < int(fourth["Retry-After"]) <= 15 * 60 + 1
    # Even the right password waits now, from this client: otherwise the limit is no limit.
    assert unlock(client, token, "open sesame").status_code == 429
    header = client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD="open sesame")
    assert header.status_code == 429


@override_settings(LOCKER_SHARE_PASSWORD_ATTEMPTS=3)
def test_header_guesses_count_against_the_same_limit(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    statuses = [
        client.get(f"/s/{token}/download", HTTP_X_SHARE_PASSWORD=f"guess {i}").status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


@override_settings(LOCKER_SHARE_PASSWORD_ATTEMPTS=2)
def test_the_owner_still_gets_in_from_another_address_during_a_throttle(report, share_of):
    _share, token = share_of(report, password="open sesame")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        attacker.post(f"/s/{token}", {"password": "wrong"})
    assert attacker.post(f"/s/{token}", {"password": "open sesame"}).status_code == 429
    friend = Client(REMOTE_ADDR="198.51.100.7")
    assert friend.post(f"/s/{token}", {"password": "open sesame"}).status_code == 303


@override_settings(LOCKER_SHARE_PASSWORD_ATTEMPTS=2)
def test_the_throttle_is_per_share(client, alice, report, share_of):
    _a, token_a = share_of(report, password="open sesame")
    _b, token_b = share_of(report, password="open sesame")
    for _ in range(2):
        unlock(client, token_a, "wrong")
    assert unlock(client, token_a, "open sesame").status_code == 429
    assert unlock(client, token_b, "open sesame").status_code == 303


def test_password_form_posted_from_another_site_is_refused(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    forged = client.post(
        f"/s/{token}", {"password": "open sesame"}, HTTP_SEC_FETCH_SITE="cross-site"
    )
    assert forged.status_code == 403
    assert UNLOCK_COOKIE not in forged.cookies
    foreign = client.post(
        f"/s/{token}", {"password": "open sesame"}, HTTP_ORIGIN="https://evil.example"
    )
    assert foreign.status_code == 403


def test_password_form_from_the_page_itself_is_accepted(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    # What a browser sends under `Referrer-Policy: no-referrer`: Origin null, same-origin fetch.
    response = client.post(
        f"/s/{token}",
        {"password": "open sesame"},
        HTTP_ORIGIN="null",
        HTTP_SEC_FETCH_SITE="same-origin",
    )
    assert response.status_code == 303
