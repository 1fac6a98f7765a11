"""The public link routes answer a program that asks for JSON with the API's error shape (as
documented under the `public` tag of the schema); a browser keeps its pages."""

from sharing.services import share_revoke

JSON = {"HTTP_ACCEPT": "application/json"}


def test_a_locked_download_answers_401_json_to_a_program(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = client.get(f"/s/{token}/download", **JSON)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'X-Share-Password realm="share"'
    assert response.json()["detail"]
    assert b"quarterly" not in response.content
    assert response["Referrer-Policy"] == "no-referrer"  # the public headers still apply


def test_a_browser_still_gets_the_page(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = client.get(f"/s/{token}/download", HTTP_ACCEPT="text/html,application/json")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")


def test_an_unknown_link_and_a_revoked_one_answer_json(client, report, share_of):
    missing = client.get("/s/" + "x" * 32 + "/download", **JSON)
    assert missing.status_code == 404
    assert missing.json()["detail"]
    share, token = share_of(report)
    share_revoke(share=share)
    gone = client.get(f"/s/{token}/download", **JSON)
    assert gone.status_code == 410
    assert gone.json()["detail"]


def test_a_wrong_password_posted_by_a_program_answers_401_json(client, report, share_of):
    _share, token = share_of(report, password="open sesame")
    response = client.post(f"/s/{token}", {"password": "wrong"}, **JSON)
    assert response.status_code == 401
    assert response.json() == {
        "code": "wrong_password",
        "detail": "The password is not correct.",
    }
    right = client.post(f"/s/{token}", {"password": "open sesame"}, **JSON)
    assert right.status_code == 303
    assert client.get(f"/s/{token}/download").status_code == 200
