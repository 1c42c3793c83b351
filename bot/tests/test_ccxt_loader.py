"""ccxt as the loader gives it: cryptography left out of a bot that signs with HMAC, and every signature ccxt
makes with an RSA, ECDSA or Ed25519 key the same as when ccxt imported cryptography itself. Each side runs in
a process of its own (what a process has imported is the thing under test)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

# Signs with each kind of key through ccxt's Exchange, then says what was loaded when. The loader's side loads
# ccxt through exchange_class (as the bot does); the plain side imports cryptography first.
SIGN = """
import json, sys
keys = json.load(sys.stdin)
if sys.argv[1] == "loader":
    from gridbot.live.ccxt_loader import exchange_class
    exchange_class("binance")
else:
    import cryptography.hazmat.primitives.asymmetric.ec
from gridbot.live.ccxt_loader import ccxt_module
Exchange = ccxt_module("ccxt.base.exchange").Exchange
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "cryptography")
hmac = Exchange.hmac(b"symbol=BTCUSDT", b"secret")
message = "timestamp=1700000000000&symbol=BTCUSDT"
signatures = {
    "hmac_loaded": sorted(m for m in sys.modules if m.split(".")[0] == "cryptography"),
    "rsa_pkcs1": Exchange.rsa(message, keys["rsa"], "sha256"),
    "rsa_sha512": Exchange.rsa(message, keys["rsa"], "sha512"),
    "rsa_pss": Exchange.rsa(message, keys["rsa"], "sha256", "pss"),
    "ecdsa_p256": Exchange.ecdsa(message, keys["p256"], "p256", "sha256"),
    "ecdsa_p384_pem": Exchange.ecdsa(message, keys["p384_pem"], "p384", "sha384"),
    "ed25519_raw": Exchange.eddsa(message.encode(), bytes.fromhex(keys["ed25519_raw"])),
    "ed25519_pem": Exchange.eddsa(message.encode(), keys["ed25519_pem"]),
}
print(json.dumps({"loaded_at_start": loaded, "hmac": hmac, **signatures}))
"""


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, object]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    raw = ed25519.Ed25519PrivateKey.generate()
    return {
        "rsa_key": (r := rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "rsa": pem(r),
        "p256": format(p256.private_numbers().private_value, "064x"),
        "p384_pem": pem(ec.generate_private_key(ec.SECP384R1())),
        "ed25519_raw": raw.private_bytes_raw().hex(),
        "ed25519_pem": pem(ed25519.Ed25519PrivateKey.generate()),
    }


def sign(side: str, keys: dict[str, object]) -> dict[str, object]:
    wire = json.dumps({k: v for k, v in keys.items() if isinstance(v, str)})
    out = subprocess.run(
        [sys.executable, "-c", SIGN, side], input=wire, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def test_an_hmac_bot_never_loads_cryptography_and_every_other_key_signs_as_with_it(
    keys: dict[str, object],
) -> None:
    loader, plain = sign("loader", keys), sign("plain", keys)
    assert loader["loaded_at_start"] == []
    assert loader["hmac_loaded"] == []
    assert plain["loaded_at_start"] != []
    # PSS salts each signature: checked against the public key below; the rest are deterministic (PKCS#1
    # v1.5, RFC 6979 ECDSA, Ed25519) and must be equal byte for byte.
    for kind in (
        "hmac",
        "rsa_pkcs1",
        "rsa_sha512",
        "ecdsa_p256",
        "ecdsa_p384_pem",
        "ed25519_raw",
        "ed25519_pem",
    ):
        assert loader[kind] == plain[kind], kind
    public = keys["rsa_key"].public_key()  # type: ignore[attr-defined]
    for side in (loader, plain):
        public.verify(
            base64.b64decode(str(side["rsa_pss"])),
            b"timestamp=1700000000000&symbol=BTCUSDT",
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )


def test_cryptography_imported_after_the_loader_is_the_real_library() -> None:
    code = (
        "from gridbot.live.ccxt_loader import exchange_class\n"
        "exchange_class('binance')\n"
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "key = ec.generate_private_key(ec.SECP256R1())\n"
        "print(ec.__file__, isinstance(key, ec.EllipticCurvePrivateKey))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    where, is_key = out.stdout.split()
    assert where.endswith("cryptography/hazmat/primitives/asymmetric/ec.py")
    assert is_key == "True"
