"""`manage.py doctor` against a real running Locker (tests/fixtures/launcher.py: gunicorn, a
Celery worker, SeaweedFS S3, clamd), reached directly or through Debian's nginx set up well or
badly. The doctor runs as the operator runs it: `manage.py doctor` in a subprocess with the
instance's settings."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from doctor.checks import Context, Options, check_https, check_mail
from doctor.client import Client
from doctor.results import FAIL, OK, SKIP
from tests.fixtures.launcher import Launcher, free_port, run_quietly
from tests.fixtures.nginx import GOOD_DIRECTIVES, NginxProxy
from tests.workers.conftest import Clamd

LINE = re.compile(r"^(OK|WARN|FAIL|SKIP)\s+(\S+): (.*)$")
STAFF = (
    "from accounts.models import User;"
    "User.objects.create_user(username='admin', email='admin@example.com',"
    " password='admin-password-1', is_staff=True)"
)
LEFTOVERS = (
    "import json;"
    "from accounts.models import ApiToken, User;"
    "from files.models import File, TusUpload, UploadReservation;"
    "print(json.dumps({'files': File.objects.count(), 'tus': TusUpload.objects.count(),"
    " 'reservations': UploadReservation.objects.count(),"
    " 'used': User.objects.get(username='admin').used_bytes,"
    " 'live_tokens': ApiToken.objects.filter(revoked_at__isnull=True).count()}))"
)


@pytest.fixture(scope="module")
def clamd_server():
    root = Path(tempfile.mkdtemp(prefix="locker-doctor-clamd-"))
    server = Clamd(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def instance(tmp_path_factory, s3_server, clamd_server):
    """One Locker behind one proxy (LOCKER_PROXY_COUNT=1), storing in a bucket of its own,
    scanning with clamd, with a staff account `admin`."""
    bucket = f"doctor-{secrets.token_hex(4)}"
    s3_server.client().create_bucket(Bucket=bucket)
    launcher = Launcher(
        tmp_path_factory.mktemp("doctor"),
        {
            **s3_server.locker_env(bucket),
            "LOCKER_SCANNER": "clamav",
            "LOCKER_CLAMD_URL": clamd_server.url,
            "LOCKER_PROXY_COUNT": "1",
        },
    )
    launcher.bucket = bucket
    try:
        launcher.prepare()
        launcher.manage_shell(STAFF)
        launcher.start()
        launcher.wait_ready()
        yield launcher
    finally:
        launcher.cleanup()


def upstream(instance: Launcher) -> str:
    return instance.base


def doctor(instance: Launcher, base_url: str, *args: str, env: dict | None = None):
    """(exit status, {check: (status, summary)}, the whole output)."""
    done = run_quietly(
        ["manage.py", "doctor", "--base-url", base_url, *args],
        {**instance.env, **(env or {})},
        timeout=300,
    )
    output = done.stdout + done.stderr
    found = {}
    for line in done.stdout.splitlines():
        if match := LINE.match(line):
            found[match[2]] = (match[1], match[3])
    return done.returncode, found, output


def assert_nothing_left(instance: Launcher, s3_server) -> None:
    left = json.loads(instance.manage_shell(LEFTOVERS).strip().splitlines()[-1])
    assert left == {"files": 0, "tus": 0, "reservations": 0, "used": 0, "live_tokens": 0}
    listing = s3_server.client().list_objects_v2(Bucket=instance.bucket)
    assert listing.get("KeyCount", 0) == 0, [item["Key"] for item in listing.get("Contents", [])]


# --- Against a deployment set up as the docs say ----------------------------------------------


def test_every_check_passes_behind_a_well_set_nginx(instance, s3_server, tmp_path):
    with NginxProxy(tmp_path, upstream=upstream(instance), directives=GOOD_DIRECTIVES) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--upload-size", "20M")
    assert status == 0, output
    assert {check: result[0] for check, result in found.items()} == {
        "https": OK,
        "upload": OK,
        "buffering": OK,
        "client-ip": OK,
        "broker": OK,
        "scanner": OK,
        "s3": OK,
        "mail": SKIP,
    }, output
    assert "20 MiB upload went through" in found["upload"][1]
    assert "Locker sees this client as 127.0.0.1" in found["client-ip"][1]
    assert "infected" in found["scanner"][1]
    assert "--mail-to" in found["mail"][1]
    assert_nothing_left(instance, s3_server)


def test_https_without_hsts_is_a_warning_and_uploads_stream_over_tls(instance, s3_server, tmp_path):
    # LOCKER_HTTPS is off on this instance, so Locker sends no HSTS even over HTTPS.
    with NginxProxy(
        tmp_path, upstream=upstream(instance), directives=GOOD_DIRECTIVES, tls=True
    ) as proxy:
        status, found, output = doctor(
            instance,
            proxy.base_url,
            *("--only", "https", "--only", "upload", "--upload-size", "9M"),
            env={"SSL_CERT_FILE": str(proxy.certificate)},
        )
    assert status == 0, output
    assert found["https"][0] == "WARN", output
    assert "without a Strict-Transport-Security header" in found["https"][1]
    assert "X-Forwarded-Proto $scheme;" in output
    assert found["upload"][0] == OK, output
    assert_nothing_left(instance, s3_server)


def test_an_untrusted_certificate_is_a_failure(instance, tmp_path):
    with NginxProxy(
        tmp_path, upstream=upstream(instance), directives=GOOD_DIRECTIVES, tls=True
    ) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--only", "https")
    assert status == 1, output
    assert found["https"][0] == FAIL
    assert "its TLS certificate was refused" in found["https"][1]


# --- The proxy's limits -----------------------------------------------------------------------


def test_a_small_client_max_body_size_is_found_and_named(instance, s3_server, tmp_path):
    directives = [d for d in GOOD_DIRECTIVES if "client_max_body_size" not in d]
    directives.append("client_max_body_size 3m;")
    with NginxProxy(tmp_path, upstream=upstream(instance), directives=directives) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--only", "upload")
    assert status == 1, output
    verdict, summary = found["upload"]
    assert verdict == FAIL
    assert "limit is between 2 MiB and 4 MiB" in summary, output
    assert "client_max_body_size 0;" in output
    assert "1 check(s) failed: upload." in output
    assert_nothing_left(instance, s3_server)


def test_request_buffering_in_the_proxy_is_reported(instance, s3_server, tmp_path):
    directives = [d for d in GOOD_DIRECTIVES if "buffering" not in d]
    with NginxProxy(tmp_path, upstream=upstream(instance), directives=directives) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--only", "buffering")
    assert status == 0, output  # a warning, not a failure: uploads still work
    verdict, summary = found["buffering"]
    assert verdict == "WARN", output
    assert "proxy_request_buffering off;" in output
    assert_nothing_left(instance, s3_server)


def test_a_proxy_timeout_is_reported_with_the_directive_to_raise(instance, s3_server, tmp_path):
    # Locker answers a chunk only once all of it is stored; a proxy that waits less than that
    # for the answer cuts every upload (here 1 ms, so it cannot wait for any chunk).
    directives = [d for d in GOOD_DIRECTIVES if "proxy_read_timeout" not in d]
    directives.append("proxy_read_timeout 1ms;")
    with NginxProxy(tmp_path, upstream=upstream(instance), directives=directives) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--only", "upload")
    assert status == 1, output
    assert found["upload"][0] == FAIL
    assert "proxy_read_timeout" in output
    assert_nothing_left(instance, s3_server)


# --- The client's address ---------------------------------------------------------------------


def test_a_spoofable_x_forwarded_for_is_reported(instance, s3_server):
    # Straight to Locker, which believes one proxy is in front of it: the client's own
    # X-Forwarded-For is taken as the truth.
    status, found, output = doctor(instance, instance.base, "--only", "client-ip")
    assert status == 1, output
    verdict, summary = found["client-ip"]
    assert verdict == FAIL
    assert "203.0.113.77" in summary
    assert "LOCKER_PROXY_COUNT (now 1)" in output
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in output


def test_a_proxy_that_passes_the_clients_header_on_is_reported(instance, tmp_path):
    directives = [d for d in GOOD_DIRECTIVES if "X-Forwarded-For" not in d]
    directives.append("proxy_set_header X-Forwarded-For $http_x_forwarded_for;")
    with NginxProxy(tmp_path, upstream=upstream(instance), directives=directives) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--only", "client-ip")
    assert status == 1, output
    assert found["client-ip"][0] == FAIL
    assert "made up by the client" in found["client-ip"][1]


def test_a_proxy_that_sends_no_client_address_is_reported(instance, tmp_path):
    # The proxy connects from an address of its own and drops X-Forwarded-For: Locker sees
    # every client as the proxy.
    directives = [d for d in GOOD_DIRECTIVES if "X-Forwarded-For" not in d]
    directives += ["proxy_bind 127.0.0.2;", 'proxy_set_header X-Forwarded-For "";']
    with NginxProxy(tmp_path, upstream=upstream(instance), directives=directives) as proxy:
        status, found, output = doctor(instance, proxy.base_url, "--only", "client-ip")
    assert status == 1, output
    verdict, summary = found["client-ip"]
    assert verdict == FAIL
    assert "Locker sees this client as 127.0.0.2, not as 127.0.0.1" in summary
    assert "the proxy's address" in summary


# --- The broker -------------------------------------------------------------------------------


def test_an_unreachable_broker_fails_with_a_clear_line(instance):
    dead = f"redis://127.0.0.1:{free_port()}/9"
    status, found, output = doctor(
        instance, instance.base, "--only", "broker", env={"CELERY_BROKER_URL": dead}
    )
    assert status == 1, output
    verdict, summary = found["broker"]
    assert verdict == FAIL
    assert f"the broker at CELERY_BROKER_URL={dead} is unreachable" in summary
    assert "Traceback" not in output


def test_a_broker_without_a_worker_fails_within_the_timeout(instance, tmp_path):
    # A broker nobody consumes from: a filesystem queue of its own.
    status, found, output = doctor(
        instance,
        instance.base,
        "--only",
        "broker",
        "--broker-timeout",
        "2",
        env={"LOCKER_CELERY_QUEUE": f"nobody-{secrets.token_hex(4)}"},
    )
    assert status == 1, output
    assert found["broker"][0] == FAIL
    assert "no worker ran it within 2 s" in found["broker"][1]


# --- S3 ---------------------------------------------------------------------------------------


def test_a_public_bucket_is_reported(instance, s3_server):
    client = s3_server.client()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [
                    f"arn:aws:s3:::{instance.bucket}",
                    f"arn:aws:s3:::{instance.bucket}/*",
                ],
            }
        ],
    }
    client.put_bucket_policy(Bucket=instance.bucket, Policy=json.dumps(policy))
    try:
        status, found, output = doctor(instance, instance.base, "--only", "s3")
    finally:
        client.delete_bucket_policy(Bucket=instance.bucket)
    assert status == 1, output
    verdict, summary = found["s3"]
    assert verdict == FAIL
    assert f"Anyone can read objects of '{instance.bucket}'" in summary
    assert "Block Public Access" in output
    assert_nothing_left(instance, s3_server)


# --- Checks that need no running instance -----------------------------------------------------


def _context(base_url: str, **options) -> Context:
    return Context(Options(base_url=base_url, **options), Client(base_url), user=None)


def test_plain_http_to_a_public_host_fails_without_connecting():
    result = check_https(_context("http://locker.example.invalid"))
    assert result.status == FAIL
    assert "plain HTTP" in result.summary
    assert any("LOCKER_BASE_URL=https://" in line for line in result.advice)


def test_the_mail_check_sends_through_the_configured_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    result = check_mail(_context("http://127.0.0.1:1", mail_to="ops@example.com"))
    assert result.status == OK
    assert [message.to for message in mail.outbox] == [["ops@example.com"]]
    assert "manage.py doctor" in mail.outbox[0].body


def test_the_mail_check_is_skipped_without_an_address(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    result = check_mail(_context("http://127.0.0.1:1"))
    assert result.status == SKIP
    assert mail.outbox == []


def test_a_failing_mail_server_is_a_failure_naming_the_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    settings.EMAIL_TIMEOUT = 5
    result = check_mail(_context("http://127.0.0.1:1", mail_to="ops@example.com"))
    assert result.status == FAIL
    assert "EMAIL_HOST (127.0.0.1)" in result.advice[0]


# --- The endpoint it asks -----------------------------------------------------------------------

CLIENT_ADDRESS = "/api/v1/doctor/client-address"


def test_the_client_address_is_told_to_staff_only(anon_api, alice_api, staff_api):
    # An attacker must not learn the proxy's address, nor whether a forged header is believed.
    forged = {"HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert anon_api.get(CLIENT_ADDRESS, **forged).status_code in (401, 403)
    refused = alice_api.get(CLIENT_ADDRESS, **forged)
    assert refused.status_code == 403
    assert "203.0.113.9" not in refused.content.decode()
    answer = staff_api.get(CLIENT_ADDRESS, REMOTE_ADDR="198.51.100.4")
    assert answer.status_code == 200
    assert answer.json() == {"client_ip": "198.51.100.4"}
    assert answer["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_without_a_staff_account_it_says_what_to_do():
    with pytest.raises(CommandError, match="no active staff account .* --user"):
        call_command("doctor", "--base-url", "http://127.0.0.1:1", "--only", "https")


@pytest.mark.django_db
def test_an_unknown_user_and_a_bad_size_are_refused_in_one_line(alice):
    with pytest.raises(CommandError, match="No user is named 'nobody'"):
        call_command("doctor", "--base-url", "http://127.0.0.1:1", "--user", "nobody")
    with pytest.raises(CommandError, match="--upload-size must be a size such as 16M"):
        call_command("doctor", "--upload-size", "lots")


@pytest.mark.django_db
def test_the_next_run_removes_the_test_files_a_killed_run_left(alice):
    """A doctor killed between its test upload and its clean-up leaves a file in the account:
    the next run takes it away (and nothing of the user's own) before checking anything."""
    from doctor.services import test_uploads_left_remove
    from files.models import File
    from tests.fixtures.files import make_file

    left = make_file(alice, "locker-doctor-upload-0123abcd.bin", b"x" * 100)
    own = make_file(alice, "locker-doctor-notes.bin", b"mine")
    assert test_uploads_left_remove(user=alice) == 1
    assert not File.objects.filter(pk=left.pk).exists()
    assert File.objects.filter(pk=own.pk).exists()
    alice.refresh_from_db()
    assert alice.used_bytes == len(b"mine")
