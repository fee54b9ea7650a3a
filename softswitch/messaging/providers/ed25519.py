"""Ed25519 (RFC 8032) for Telnyx's webhook signatures, on the `cryptography` library
(OpenSSL): a check costs microseconds on the loop, where the pure-Python version this
replaced cost ~6 ms per webhook. `sign` and `public_key` exist for the tests' fake Telnyx.
The RFC 8032 §7.1 test vectors are checked in tests/messaging/test_providers_protocol.py."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def public_key(secret: bytes) -> bytes:
    """The 32-byte public key of a 32-byte secret (seed)."""
    return Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def sign(secret: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(secret).sign(message)


def verify(key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `key`'s over `message`; False for any malformed input."""
    if len(key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
