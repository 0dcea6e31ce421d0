"""AWS Signature Version 4 for one request (what SNS needs), with the standard library only."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import urlsplit


def _h(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method: str, url: str, headers: dict[str, str], body: bytes, *, access_key: str, secret_key: str,
         region: str, service: str, now: dt.datetime | None = None) -> dict[str, str]:
    """``headers`` plus ``X-Amz-Date`` and ``Authorization`` (the signed headers are every header
    given, and ``host``)."""
    t = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    amz_date, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
    u = urlsplit(url)
    out = {**headers, "X-Amz-Date": amz_date}
    canon = {k.lower(): " ".join(v.split()) for k, v in out.items()}
    canon["host"] = u.netloc
    names = sorted(canon)
    canonical = "\n".join([
        method, u.path or "/", u.query,
        "".join(f"{k}:{canon[k]}\n" for k in names), ";".join(names), hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _h(_h(_h(_h(("AWS4" + secret_key).encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out
