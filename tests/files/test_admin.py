from tests.fixtures.files import make_file, make_folder


def test_admin_lists_hostile_names_escaped(client, staff, alice):
    hostile = '<img src=x onerror="alert(1)">.txt'
    make_file(alice, hostile, b"x")
    make_folder(alice, hostile + " folder")
    client.force_login(staff)
    for url in ("/admin/files/file/", "/admin/files/folder/", "/admin/files/uploadreservation/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"<img src=x" not in response.content
    response = client.get("/admin/files/file/")
    assert b"&lt;img src=x" in response.content
