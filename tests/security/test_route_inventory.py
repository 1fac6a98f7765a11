"""The route inventory: every URL pattern and every DRF action, sent by an attacker.

Re-enacts the family of Nextcloud CVE-2020-8139 / CVE-2018-16467 and Seahub's ZIP task (a side
route that skipped the access check) and ProjectSend CVE-2024-7658 / filebrowser
GHSA-6cqf-cfhv-659g (another user's ids): each route that reveals file content or metadata is
called by an anonymous caller, by another user (bob, with alice's real ids) and — for link
routes — against a password-protected link without the password. None may answer 2xx with
alice's data, and none may change anything of hers.

Every route must be classified in ROUTES below: a route added without a classification fails
`test_every_route_is_classified`, so a new route cannot silently skip this test.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.api.permissions import TokenScopes, required_scopes_of
from files.models import File, Folder, UploadReservation
from files.services import file_trash
from sharing.api.views import UUID_IN_PATH
from sharing.models import ShareLink, UploadLink
from sharing.selectors import share_opaque_id
from sharing.services import share_create
from sharing.upload_links import upload_link_create, upload_link_reserve
from tests.fixtures.users import api_client_for
from tests.security.conftest import make_folder, store_file
from tests.tus.helpers import create as tus_create
from tests.tus.helpers import path_of
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db

SECRET_NAME = "q7-payroll-secret.txt"
SECRET_FOLDER = "q7-hr-folder"
SECRET_CONTENT = b"Q7-TOP-SECRET-CONTENT"
TRASHED_NAME = "q7-trashed-secret.txt"
MARKERS = [SECRET_NAME, SECRET_FOLDER, SECRET_CONTENT.decode(), TRASHED_NAME]

# --- The classification ------------------------------------------------------------------------
# kind:
#   public  - open to anyone by design (log-in, reset, health, schema); must show no user data
#   user    - for a logged-in user, about their own data (ids in the URL are alice's)
#   list    - for a logged-in user, lists the caller's own data (bob gets his, never alice's)
#   staff   - for staff only
#   share   - a share link route (/s/<token>…), against alice's password-protected folder share
#   upload  - an upload link route (/r/<token>…), against alice's password-protected link
# methods: the HTTP methods the attacker sends. `ids`: what fills the URL's parameters.
# A link's id in a path (sharing.api.views.UUID_IN_PATH).
UUID = UUID_IN_PATH
# Any API path without its final slash (locker/slashless.py): a plain function that serves the
# request as the route with the slash would, so that route's own checks apply.
SLASHLESS = "api/v1/^(?P<path>.*[^/])$"
ROUTES: dict[str, dict] = {
    "healthz": {"kind": "public"},
    # The language switch: a cookie (and a logged-in user's own setting), from our pages only.
    "language": {"kind": "public", "methods": ["POST"]},
    # Prometheus: loopback or a bearer token (metrics/access.py, tests/test_metrics.py); the test
    # client comes from 127.0.0.1, so it is read here, and must show counts, never user data.
    "metrics": {"kind": "public"},
    "accounts/password_reset/": {"kind": "public"},
    "accounts/login/": {"kind": "public"},
    "accounts/login/code/": {"kind": "public"},
    # Single sign-on (404 while LOCKER_OIDC_ISSUER is unset): start and callback.
    "accounts/oidc/login/": {"kind": "public"},
    "accounts/oidc/callback/": {"kind": "public"},
    "accounts/logout/": {"kind": "public", "methods": ["POST"]},
    "accounts/password_change/": {"kind": "list"},
    "accounts/password_change/done/": {"kind": "list"},
    "accounts/password_reset/done/": {"kind": "public"},
    "accounts/reset/<uidb64>/<token>/": {"kind": "public"},
    "accounts/reset/done/": {"kind": "public"},
    "accounts/2fa/": {"kind": "list"},
    "accounts/2fa/setup/": {"kind": "list"},
    "accounts/2fa/setup/qr.svg": {"kind": "list"},
    "accounts/2fa/disable/": {"kind": "user", "methods": ["POST"]},
    "accounts/2fa/backup-codes/": {"kind": "user", "methods": ["POST"]},
    "accounts/2fa/backup-codes/new/": {"kind": "list"},
    "accounts/2fa/reset/<int:user_id>/": {"kind": "staff", "methods": ["GET", "POST"]},
    "accounts/reauthenticate/": {"kind": "list"},
    "accounts/profile/": {"kind": "list"},
    "accounts/activity/": {"kind": "list"},
    "accounts/audit/": {"kind": "staff"},
    "accounts/audit/export.csv": {"kind": "staff"},
    "accounts/tokens/": {"kind": "list"},
    "accounts/tokens/<int:token_id>/revoke/": {"kind": "user", "methods": ["POST"]},
    "accounts/invite/": {"kind": "staff", "methods": ["GET", "POST"]},
    "accounts/invite/<int:user_id>/resend/": {"kind": "staff", "methods": ["POST"]},
    "accounts/invitation/<str:token>/": {"kind": "public"},
    "accounts/signup/": {"kind": "public"},
    "accounts/signup/sent/": {"kind": "public"},
    "accounts/signup/<str:token>/": {"kind": "public"},
    "api/v1/me/": {"kind": "list"},
    "api/v1/me/password/": {"kind": "list", "methods": ["POST"]},
    "api/v1/^tokens/$": {"kind": "list"},
    r"api/v1/^tokens/(?P<pk>\d+)/$": {"kind": "user"},
    "api/v1/^users/$": {"kind": "staff"},
    r"api/v1/^users/(?P<pk>\d+)/$": {"kind": "staff"},
    r"api/v1/^users/(?P<pk>\d+)/invitation/$": {"kind": "staff"},
    "api/v1/^audit/$": {"kind": "list"},
    "api/v1/folders/": {"kind": "list"},
    "api/v1/folders/<uuid:id>/": {"kind": "user"},
    "api/v1/folders/<uuid:id>/download/": {"kind": "user"},
    "api/v1/files/": {"kind": "list"},
    # Batch actions take ids in the body: tests/files/test_batch_api.py sends alice's ids as bob.
    "api/v1/files/batch/": {"kind": "list", "methods": ["POST"]},
    "api/v1/files/<uuid:id>/": {"kind": "user"},
    "api/v1/files/<uuid:id>/content/": {"kind": "user"},
    "api/v1/files/<uuid:id>/thumbnail/": {"kind": "user"},
    # OPTIONS (the tus capabilities) is open to anyone by design, as tus clients expect; it says
    # nothing about anybody (tests/test_error_contract.py). Creating an upload is not.
    "api/v1/tus/": {"kind": "list", "methods": ["POST"]},
    "api/v1/tus/<str:upload_id>": {"kind": "user", "methods": ["HEAD", "PATCH", "DELETE"]},
    "api/v1/trash/": {"kind": "list"},
    "api/v1/trash/<uuid:id>/restore/": {"kind": "user"},
    "api/v1/trash/<uuid:id>/": {"kind": "user"},
    "api/v1/uploads/": {"kind": "list"},
    "api/v1/uploads/<uuid:id>/": {"kind": "user", "methods": ["DELETE"]},
    "api/v1/send/": {"kind": "list", "methods": []},
    "api/v1/^shares/$": {"kind": "list"},
    f"api/v1/^shares/(?P<id>{UUID})/$": {"kind": "user"},
    f"api/v1/^shares/(?P<id>{UUID})/accesses/$": {"kind": "user"},
    f"api/v1/^shares/(?P<id>{UUID})/email/$": {"kind": "user"},
    f"api/v1/^shares/(?P<id>{UUID})/qr/$": {"kind": "user"},
    "api/v1/^upload-links/$": {"kind": "list"},
    f"api/v1/^upload-links/(?P<id>{UUID})/$": {"kind": "user"},
    f"api/v1/^upload-links/(?P<id>{UUID})/qr/$": {"kind": "user"},
    # manage.py doctor: the caller's address as Locker computed it; staff only (doctor/api.py).
    "api/v1/doctor/client-address/": {"kind": "staff"},
    "api/v1/schema/": {"kind": "public"},
    # Any API path without its final slash, served as with it (locker/slashless.py): attacked
    # with alice's file's item path, every method.
    SLASHLESS: {"kind": "user", "methods": ["GET", "PATCH", "DELETE"]},
    "api/v1/docs/": {"kind": "public"},
    "": {"kind": "list"},
    "folders/<uuid:folder_id>/": {"kind": "user"},
    "search/": {"kind": "list", "query": "?q=payroll"},
    "trash/": {"kind": "list"},
    "s/<sharetoken:token>": {"kind": "share", "methods": ["GET", "HEAD"]},
    "s/<sharetoken:token>/download": {"kind": "share"},
    "s/<sharetoken:token>/preview": {"kind": "share"},
    "s/<sharetoken:token>/folders/<opaque:folder_opaque>": {"kind": "share"},
    "s/<sharetoken:token>/folders/<opaque:folder_opaque>/download": {"kind": "share"},
    "s/<sharetoken:token>/files/<opaque:file_opaque>/download": {"kind": "share"},
    "s/<sharetoken:token>/files/<opaque:file_opaque>/preview": {"kind": "share"},
    "s/<sharetoken:token>/thumbnail": {"kind": "share"},
    "s/<sharetoken:token>/files/<opaque:file_opaque>/thumbnail": {"kind": "share"},
    "r/<sharetoken:token>": {"kind": "upload"},
    "r/<sharetoken:token>/upload": {"kind": "upload", "methods": ["POST"]},
    "r/<sharetoken:token>/tus/": {"kind": "upload", "methods": ["POST"]},
    "r/<sharetoken:token>/tus/<str:upload_id>": {"kind": "upload", "methods": ["HEAD", "PATCH"]},
    "shares/": {"kind": "list"},
    "shares/new": {"kind": "list", "query": "?file={file}"},
    "shares/send": {"kind": "list"},
    "shares/<uuid:share_id>/": {"kind": "user"},
    "shares/<uuid:share_id>/qr.svg": {"kind": "user"},
    "shares/<uuid:share_id>/revoke": {"kind": "user", "methods": ["POST"]},
    "shares/uploads/new": {"kind": "list", "query": "?folder={folder}"},
    "shares/uploads/<uuid:link_id>/": {"kind": "user"},
    "shares/uploads/<uuid:link_id>/qr.svg": {"kind": "user"},
    "shares/<uuid:share_id>/created": {"kind": "user"},
    "shares/uploads/<uuid:link_id>/created": {"kind": "user"},
    "shares/uploads/<uuid:link_id>/revoke": {"kind": "user", "methods": ["POST"]},
    "shares/uploads/<uuid:link_id>/in-progress/<uuid:reservation_id>/cancel": {
        "kind": "user",
        "methods": ["POST"],
    },
    # Webhooks (webhooks/): alice's endpoint, its delivery log and its test event.
    "api/v1/^webhooks/$": {"kind": "list"},
    f"api/v1/^webhooks/(?P<id>{UUID})/$": {"kind": "user"},
    f"api/v1/^webhooks/(?P<id>{UUID})/deliveries/$": {"kind": "user"},
    f"api/v1/^webhooks/(?P<id>{UUID})/test/$": {"kind": "user", "methods": ["POST"]},
    "webhooks/": {"kind": "list"},
    "webhooks/<uuid:webhook_id>/": {"kind": "user"},
    "webhooks/<uuid:webhook_id>/delete": {"kind": "user", "methods": ["POST"]},
    "webhooks/<uuid:webhook_id>/test": {"kind": "user", "methods": ["POST"]},
}


def walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            pattern.full_name = f"{namespace}{pattern.name}"
            yield prefix + str(pattern.pattern), pattern


def app_routes() -> dict[str, URLPattern]:
    """Every route outside the Django admin (which is tested as a whole below)."""
    return {
        route: pattern
        for route, pattern in walk(get_resolver().url_patterns)
        if not route.startswith("admin/")
    }


def methods_of(route: str, pattern: URLPattern) -> list[str]:
    spec = ROUTES[route]
    if "methods" in spec:
        return spec["methods"]
    actions = getattr(pattern.callback, "actions", None)  # a DRF viewset: every action
    if actions:
        return sorted(method.upper() for method in actions)
    return ["GET"]


def test_every_route_is_classified():
    unclassified = sorted(set(app_routes()) - set(ROUTES))
    assert unclassified == [], (
        "New routes must be added to ROUTES in tests/security/test_route_inventory.py with "
        f"their access rule: {unclassified}"
    )
    stale = sorted(set(ROUTES) - set(app_routes()))
    assert stale == [], f"ROUTES lists routes that no longer exist: {stale}"


def test_every_drf_action_is_sent():
    """Each viewset action maps to a method the inventory sends (no action left untested)."""
    for route, pattern in app_routes().items():
        actions = getattr(pattern.callback, "actions", None) or {}
        sent = set(methods_of(route, pattern))
        missing = {method.upper() for method in actions} - sent
        assert not missing, f"{route}: actions for {missing} are not attacked"


# --- The world the attacker faces --------------------------------------------------------------


@pytest.fixture
def world(alice, bob, staff, settings):
    folder = make_folder(alice, SECRET_FOLDER)
    file = store_file(alice, SECRET_NAME, SECRET_CONTENT, folder=folder)
    trashed = store_file(alice, TRASHED_NAME, b"old secret")
    file_trash(file=trashed)
    share, share_token = share_create(owner=alice, folder=folder, password="correct horse")
    link, upload_token = upload_link_create(owner=alice, folder=folder, password="battery staple")
    alice_api = api_client_for(alice)
    token = alice.api_tokens.get()
    tus_url = path_of(tus_create(alice_api, 10))
    # An upload in progress through alice's link, for the routes that list and cancel them.
    in_flight = upload_link_reserve(link=link, size=10, name=SECRET_NAME)
    settings.LOCKER_WEBHOOK_ALLOW_PRIVATE = True  # alice's endpoint on a local address
    webhook, _secret = webhook_create(
        owner=alice, url="http://127.0.0.1:9/q7-hook", events=["file.uploaded"]
    )
    return {
        "alice": alice,
        "bob": bob,
        "folder": folder,
        "file": file,
        "trashed": trashed,
        "share": share,
        "share_token": share_token,
        "link": link,
        "upload_token": upload_token,
        "token": token,
        "tus_id": tus_url.rsplit("/", 1)[1],
        "in_flight": in_flight,
        "webhook": webhook,
    }


def url_for(route: str, pattern: URLPattern, w: dict) -> str:
    """Fill the route's parameters with alice's real ids (the strongest guess an attacker has)."""
    share = w["share"]
    values = {
        "uidb64": "MQ",
        "token": "bad-token",
        "user_id": w["alice"].pk,
        "token_id": w["token"].pk,
        "pk": w["token"].pk if "tokens" in route else w["alice"].pk,
        "folder_id": w["folder"].public_id,
        "share_id": share.public_id,
        "link_id": w["link"].public_id,
        "upload_id": w["tus_id"],
        "reservation_id": w["in_flight"].public_id,
        "webhook_id": w["webhook"].public_id,
        "folder_opaque": share_opaque_id(share, w["folder"]),
        "file_opaque": share_opaque_id(share, w["file"]),
        "path": f"files/{w['file'].public_id}",
    }
    if "webhooks" in route:
        values["id"] = w["webhook"].public_id
    elif "shares" in route:
        values["id"] = share.public_id
    elif "upload-links" in route:
        values["id"] = w["link"].public_id
    elif route.startswith("api/v1/uploads/"):
        values["id"] = w["in_flight"].public_id
    elif "folders" in route:
        values["id"] = w["folder"].public_id
    elif "trash" in route:
        values["id"] = w["trashed"].public_id
    else:
        values["id"] = w["file"].public_id
    kind = ROUTES[route]["kind"]
    if kind == "share":
        values["token"] = w["share_token"]
    elif kind == "upload":
        values["token"] = w["upload_token"]
    elif route.startswith("accounts/reset/"):
        values["token"] = "set-password"
    names = pattern.pattern.converters.keys() | set(pattern.pattern.regex.groupindex)
    from django.urls import reverse

    path = reverse(pattern.full_name, kwargs={name: values[name] for name in names})
    query = ROUTES[route].get("query", "")
    return path + query.format(file=w["file"].public_id, folder=w["folder"].public_id)


def send(client, method: str, url: str):
    body = {"name": "pwned", "password": "x", "code": "000000"}
    if method in ("GET", "HEAD", "OPTIONS"):
        return client.generic(method, url, HTTP_TUS_RESUMABLE="1.0.0")
    if method == "PATCH" and "tus" in url:
        return client.generic(
            method,
            url,
            data=b"x",
            content_type="application/offset+octet-stream",
            HTTP_TUS_RESUMABLE="1.0.0",
            HTTP_UPLOAD_OFFSET="0",
        )
    tus = {"HTTP_TUS_RESUMABLE": "1.0.0"}
    if "/api/" in url:
        return client.generic(
            method, url, data='{"name": "pwned"}', content_type="application/json", **tus
        )
    if method == "POST":
        return client.post(url, body, **tus)
    return client.generic(method, url, **tus)


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def refused(response, *, allow_ok_page: bool = False) -> bool:
    status = response.status_code
    if status in (301, 302, 303):
        return "/accounts/login/" in response["Location"] or response["Location"].startswith(
            ("/accounts/2fa", "/s/", "/r/")
        )
    if status in (400, 401, 403, 404, 405, 409, 410, 429):
        return True
    return allow_ok_page and status == 200


def assert_nothing_leaks(response, who: str, method: str, url: str, extra=()):
    text = body_of(response)
    leaked = [marker for marker in [*MARKERS, *extra] if marker in text]
    assert not leaked, f"{who} {method} {url} -> {response.status_code} leaked {leaked}"
    assert response.status_code < 500, f"{who} {method} {url} -> {response.status_code}"


def assert_alice_untouched(w: dict):
    file = File.objects.get(pk=w["file"].pk)
    assert file.name == SECRET_NAME and file.deleted_at is None
    folder = Folder.objects.get(pk=w["folder"].pk)
    assert folder.name == SECRET_FOLDER and folder.deleted_at is None
    assert File.objects.get(pk=w["trashed"].pk).deleted_at is not None
    assert ShareLink.objects.get(pk=w["share"].pk).revoked_at is None
    assert UploadLink.objects.get(pk=w["link"].pk).revoked_at is None
    assert w["alice"].api_tokens.filter(revoked_at__isnull=True).count() == 1
    assert w["alice"].is_active and not w["alice"].is_staff
    assert UploadReservation.objects.filter(pk=w["in_flight"].pk).exists()


def _clients(w: dict) -> dict[str, object]:
    anonymous = APIClient()
    bob = APIClient()
    bob.force_login(w["bob"])
    bob_token = api_client_for(w["bob"])
    return {"anonymous": anonymous, "bob (session)": bob, "bob (token)": bob_token}


def attack_owner_and_staff_routes(world) -> int:
    checked = 0
    for route, pattern in app_routes().items():
        kind = ROUTES[route]["kind"]
        if kind not in ("user", "list", "staff"):
            continue
        url = url_for(route, pattern, world)
        for who, client in _clients(world).items():
            for method in methods_of(route, pattern):
                response = send(client, method, url)
                if who == "anonymous" or kind in ("user", "staff"):
                    assert refused(response), f"{who} {method} {url} -> {response.status_code}"
                # Links are shown again to their owner (kept sealed): never to anyone else.
                tokens = [world["share_token"], world["upload_token"]]
                assert_nothing_leaks(response, who, method, url, extra=tokens)
                checked += 1
    return checked


def test_owner_and_staff_routes_refuse_anonymous_callers_and_other_users(world):
    assert attack_owner_and_staff_routes(world) > 100
    assert_alice_untouched(world)


def test_link_routes_refuse_a_locked_link_to_anonymous_callers_and_other_users(world):
    """Every /s/ and /r/ route of a password-protected link: nothing without the password."""
    checked = 0
    for route, pattern in app_routes().items():
        if ROUTES[route]["kind"] not in ("share", "upload"):
            continue
        url = url_for(route, pattern, world)
        for who, client in _clients(world).items():
            for method in methods_of(route, pattern):
                response = send(client, method, url)
                # The link page itself answers 200 with the password form, and nothing else.
                page = route in ("s/<sharetoken:token>", "r/<sharetoken:token>") or (
                    route == "s/<sharetoken:token>/folders/<opaque:folder_opaque>"
                )
                assert refused(response, allow_ok_page=page), (
                    f"{who} {method} {url} -> {response.status_code}"
                )
                if response.status_code == 200:
                    assert 'name="password"' in body_of(response) or method == "HEAD"
                assert_nothing_leaks(response, who, method, url)
                checked += 1
    assert checked >= 20
    assert_alice_untouched(world)


def test_public_routes_show_no_user_data(world):
    client = APIClient()
    for route, pattern in app_routes().items():
        if ROUTES[route]["kind"] != "public":
            continue
        url = url_for(route, pattern, world)
        for method in methods_of(route, pattern):
            assert_nothing_leaks(send(client, method, url), "anonymous", method, url)


def test_admin_routes_refuse_anonymous_callers_and_non_staff(world):
    from django.contrib import admin

    bob = APIClient()
    bob.force_login(world["bob"])
    urls = ["/admin/", "/admin/accounts/", "/admin/files/"]
    for model in admin.site._registry:
        meta = model._meta
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        urls += [base, f"{base}add/", f"{base}1/change/", f"{base}1/delete/", f"{base}1/history/"]
    for url in urls:
        for who, client in (("anonymous", APIClient()), ("bob", bob)):
            response = client.get(url)
            assert response.status_code == 302, f"{who} GET {url} -> {response.status_code}"
            assert "/login/" in response["Location"]


def test_a_new_unclassified_route_fails_the_inventory(settings):
    """The guard itself: add a route without classifying it and the inventory complains."""
    settings.ROOT_URLCONF = "tests.security.urls_with_a_new_route"
    assert set(app_routes()) - set(ROUTES) == {"api/v1/files/<uuid:id>/leak"}
    with pytest.raises(AssertionError, match="leak"):
        test_every_route_is_classified()


def test_a_new_route_that_skips_the_access_check_is_caught(settings, monkeypatch, world):
    """The guard itself: a route that looks a file up by id without scoping it to the caller."""
    settings.ROOT_URLCONF = "tests.security.urls_with_a_new_route"
    monkeypatch.setitem(ROUTES, "api/v1/files/<uuid:id>/leak", {"kind": "user"})
    with pytest.raises(AssertionError, match="leak"):
        attack_owner_and_staff_routes(world)


# --- Token scopes: every API operation declares what a token needs (accounts.scopes) ------------


def api_operations() -> list[tuple[str, URLPattern, str]]:
    """(route, pattern, method) of every operation under /api/v1/ that is not public."""
    found = []
    for route, pattern in app_routes().items():
        if not route.startswith("api/v1/") or ROUTES[route]["kind"] == "public":
            continue
        if route == SLASHLESS:
            continue  # locker/slashless.py hands the request to the route with the slash
        cls = pattern.callback.cls
        actions = getattr(pattern.callback, "actions", None)
        methods = (
            sorted(actions) if actions else [m for m in cls.http_method_names if hasattr(cls, m)]
        )
        for method in methods:
            if method == "options" and cls.options is APIView.options:
                continue  # DRF's own metadata answer: open to any token (no data)
            found.append((route, pattern, method.upper()))
    return found


def required_scopes_for(pattern: URLPattern, method: str) -> tuple[str, ...] | None:
    view = pattern.callback.cls()
    actions = getattr(pattern.callback, "actions", None)
    if actions:
        view.action = actions.get(method.lower()) or actions.get("get")
    return required_scopes_of(view, method)


def test_every_api_operation_declares_its_token_scopes():
    """An operation added without `required_scopes` (or a view that replaces the permission
    classes without TokenScopes) fails here before any token is refused by surprise."""
    undeclared, unchecked = [], []
    for route, pattern, method in api_operations():
        if required_scopes_for(pattern, method) is None:
            undeclared.append(f"{method} {route}")
        if TokenScopes not in pattern.callback.cls.permission_classes:
            unchecked.append(route)
    assert undeclared == [], f"Declare `required_scopes` for: {undeclared}"
    assert unchecked == [], f"TokenScopes missing from the permission classes of: {unchecked}"
    assert len(api_operations()) > 40


def test_an_operation_without_declared_scopes_fails_the_inventory(monkeypatch):
    """The guard itself: an action whose scope is forgotten is named."""
    from files.api.views import FileViewSet

    declared = {k: v for k, v in FileViewSet.required_scopes.items() if k != "thumbnail"}
    monkeypatch.setattr(FileViewSet, "required_scopes", declared)
    with pytest.raises(AssertionError, match="thumbnail"):
        test_every_api_operation_declares_its_token_scopes()
