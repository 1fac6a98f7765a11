"""The signature of a delivery: Stripe's scheme, `Locker-Signature: t=<unix time>,v1=<hex>`
where the hex is HMAC-SHA256, keyed with the endpoint's secret, of "<t>.<body>"."""

import hashlib
import hmac


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
