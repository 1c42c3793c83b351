"""Binance request signing: X-MBX-APIKEY, HMAC-SHA256 over the exact query string + body (signature removed),
and the timestamp/recvWindow rule."""

from __future__ import annotations

import hashlib
import hmac

from gridbot_exchange import errors
from gridbot_exchange.accounts import Account, ApiKey
from gridbot_exchange.errors import ApiError

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
AHEAD_MS = 1000


def _strip_signature(raw: str) -> tuple[str, str | None]:
    sig = None
    kept = []
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            sig = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), sig


def authenticate(
    keys: dict[str, ApiKey],
    api_key: str | None,
    query: str,
    body: str,
    params: dict[str, str],
    now_ms: int,
) -> Account:
    """The account the request is signed for, else the ApiError Binance answers with."""
    if not api_key:
        raise ApiError(401, -2014, "API-key format invalid.")
    key = keys.get(api_key)
    if key is None:
        raise errors.BAD_KEY
    q, qsig = _strip_signature(query)
    b, bsig = _strip_signature(body)
    sig = qsig or bsig
    if not sig:
        raise errors.bad_param("signature")
    want = hmac.new(key.secret.encode(), (q + b).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig.lower()):
        raise errors.BAD_SIGNATURE
    ts = params.get("timestamp")
    if not ts:
        raise errors.bad_param("timestamp")
    if not ts.isdigit():
        raise errors.illegal("timestamp")
    window = params.get("recvWindow", str(DEFAULT_RECV_WINDOW))
    if not window.isdigit():
        raise errors.illegal("recvWindow")
    if int(window) > MAX_RECV_WINDOW:
        raise ApiError(400, -1131, "recvWindow must be less than 60000")
    if int(ts) >= now_ms + AHEAD_MS:
        raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - int(ts) > int(window):
        raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    key.used(now_ms)
    return key.account
