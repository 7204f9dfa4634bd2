"""Seal and open DingTalk HTTP event callbacks: AES-256-CBC plus a SHA-1 signature.

DingTalk's HTTP push (事件订阅, dingtalk-api.md §9; [D:http-callback-overview] and the
open-dingtalk/dingtalk-callback-Crypto reference) works like this, and so does this module:

- The app's 43-character ``aes_key`` (EncodingAESKey) is Base64 without its final ``=``:
  decoding ``aes_key + "="`` gives the 32-byte AES-256 key; the IV is the key's first 16 bytes.
- The plaintext is 16 random bytes, the message's length as 4 bytes big-endian, the UTF-8
  message, then the receiver id (the corp id, or an internal app's app key). It is padded
  PKCS#7-style to a multiple of 32 bytes (not AES's 16), encrypted, and sent Base64-encoded.
- ``msg_signature`` is the hex SHA-1 of the token, timestamp, nonce and ciphertext, sorted as
  strings and concatenated. The reply to every push is ``"success"`` sealed the same way, with
  its own signature, timestamp and nonce.

Pure: no Flask, no database, no clock (the caller passes timestamps in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scim_bridge.errors import CallbackSignatureInvalid, CallbackUndecryptable, ConfigError

AES_KEY_CHARS = 43
RANDOM_BYTES = 16
PAD_BLOCK = 32  # DingTalk pads to 32 bytes, not AES's 16 (the reference's PKCS7Padding)
_NONCE_ALPHABET = string.ascii_letters + string.digits
#: The text a receiver seals and returns for every push it accepted ([D:http-callback-overview]).
SUCCESS = "success"


def new_aes_key() -> str:
    """Return a fresh 43-character EncodingAESKey, as DingTalk's console generates one."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def new_nonce(length: int = 16) -> str:
    """Return a random alphanumeric nonce for a sealed message."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def decode_aes_key(aes_key: str, *, setting: str = "dingtalk_callback_aes_key") -> bytes:
    """Turn a 43-character EncodingAESKey into its 32 key bytes; ConfigError naming the setting."""
    fix = f"set {setting} to the 43-character key from the app's event subscription page"
    if len(aes_key) != AES_KEY_CHARS:
        raise ConfigError(f"setting {setting} must be {AES_KEY_CHARS} characters long; {fix}")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"setting {setting} is not Base64; {fix}") from None
    if len(key) != 32:
        raise ConfigError(f"setting {setting} does not decode to 32 bytes; {fix}")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return DingTalk's msg_signature: hex SHA-1 over the four values sorted and joined."""
    joined = "".join(sorted((token, timestamp, nonce, encrypt)))
    # SHA-1 is DingTalk's choice for this signature, not ours; it authenticates, not hashes secrets.
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324


def _pad(data: bytes) -> bytes:
    count = PAD_BLOCK - len(data) % PAD_BLOCK  # 1..32: a full block when already aligned
    return data + bytes([count]) * count


def _unpad(data: bytes) -> bytes:
    if not data:
        raise CallbackUndecryptable("the callback's ciphertext is empty")
    count = data[-1]
    if not 1 <= count <= PAD_BLOCK or data[-count:] != bytes([count]) * count:
        raise CallbackUndecryptable("the callback's plaintext has bad padding (wrong AES key?)")
    return data[:-count]


@dataclass(frozen=True)
class CallbackCipher:
    """The token, AES key and receiver id of one app's HTTP callbacks (secrets kept out of repr)."""

    token: str = field(repr=False)
    aes_key: str = field(repr=False)
    receiver_id: str

    def __post_init__(self) -> None:
        decode_aes_key(self.aes_key)  # fail at construction, naming the setting, not per request

    @property
    def _key(self) -> bytes:
        return decode_aes_key(self.aes_key)

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """Return the msg_signature of a ciphertext sent with this timestamp and nonce."""
        return signature(self.token, timestamp, nonce, encrypt)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise CallbackSignatureInvalid unless the signature matches (constant-time compare)."""
        expected = self.sign(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode("ascii"), msg_signature.encode("utf-8")):
            raise CallbackSignatureInvalid("the callback's msg_signature does not match")

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        """Encrypt a message for this receiver; ``random_prefix`` fixes the 16 bytes in tests."""
        prefix = secrets.token_bytes(RANDOM_BYTES) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_BYTES:
            raise ValueError(f"the random prefix must be {RANDOM_BYTES} bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.receiver_id.encode("utf-8")
        key = self._key
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        sealed = encryptor.update(_pad(plain)) + encryptor.finalize()
        return base64.b64encode(sealed).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """Decrypt a ciphertext meant for this receiver; CallbackUndecryptable otherwise."""
        try:
            sealed = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackUndecryptable("the callback's ciphertext is not Base64") from None
        if not sealed or len(sealed) % 16:
            raise CallbackUndecryptable("the callback's ciphertext is not whole AES blocks")
        key = self._key
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = _unpad(decryptor.update(sealed) + decryptor.finalize())
        if len(plain) < RANDOM_BYTES + 4:
            raise CallbackUndecryptable("the callback's plaintext is too short")
        (length,) = struct.unpack(">I", plain[RANDOM_BYTES : RANDOM_BYTES + 4])
        start = RANDOM_BYTES + 4
        body, receiver = plain[start : start + length], plain[start + length :]
        if len(body) != length:
            raise CallbackUndecryptable("the callback's plaintext is shorter than it says")
        if not hmac.compare_digest(receiver, self.receiver_id.encode("utf-8")):
            raise CallbackUndecryptable("the callback is addressed to another corp or app")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackUndecryptable("the callback's message is not UTF-8") from None

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """Verify the signature, then decrypt: the message of one received callback."""
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def seal(
        self, message: str, *, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> dict[str, str]:
        """Encrypt and sign a message: the JSON fields a push body or its reply carries."""
        encrypt = self.encrypt(message, random_prefix=random_prefix)
        return {
            "msg_signature": self.sign(timestamp, nonce, encrypt),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }
