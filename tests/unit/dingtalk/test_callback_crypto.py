"""DingTalk callback crypto against literal vectors (checked independently with `openssl enc`)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scim_bridge.dingtalk.callback_crypto import (
    CallbackCipher,
    decode_aes_key,
    new_aes_key,
    signature,
)
from scim_bridge.errors import CallbackSignatureInvalid, CallbackUndecryptable, ConfigError

# The key bytes 00 01 … 1f; the IV is therefore 00 … 0f.
AES_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
PREFIX = b"0123456789abcdef"
CIPHER = CallbackCipher(token="tok3n", aes_key=AES_KEY, receiver_id="dingcorp01")
# "0123456789abcdef" + 00 00 00 07 + "success" + "dingcorp01", padded with 27 x 0x1b to 64
# bytes, AES-256-CBC: `openssl enc -aes-256-cbc -K 0001…1f -iv 0001…0f -nopad | base64`.
SUCCESS_SEALED = (
    "4j/AuRx71kQlxVlzbpsMWFL/s0YqbH4kJeEk4icX5OmXRspwyUaY1YuHiDaz7msBln0Q8FIBXuobIpqjqzE+/w=="
)
# sha1("1700000000000" + "4j/A…" + "nonce123" + "tok3n"), the four sorted as strings.
SUCCESS_SIGNATURE = "b5992b6d7c15839e1060e79162147344143036a1"


def test_encrypt_matches_the_literal_vector() -> None:
    assert CIPHER.encrypt("success", random_prefix=PREFIX) == SUCCESS_SEALED


def test_signature_is_sha1_of_the_sorted_values() -> None:
    assert signature("tok3n", "1700000000000", "nonce123", SUCCESS_SEALED) == SUCCESS_SIGNATURE
    # The order of the arguments does not matter: they are sorted first.
    assert signature(SUCCESS_SEALED, "nonce123", "1700000000000", "tok3n") == SUCCESS_SIGNATURE


def test_open_verifies_and_decrypts_the_literal_vector() -> None:
    message = CIPHER.open(SUCCESS_SIGNATURE, "1700000000000", "nonce123", SUCCESS_SEALED)
    assert message == "success"


def test_seal_round_trips_unicode_and_carries_its_own_signature() -> None:
    text = '{"EventType":"user_modify_org","UserId":["张三"]}'
    sealed = CIPHER.seal(text, timestamp="1700000000001", nonce="abc")
    assert set(sealed) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert sealed["msg_signature"] == signature("tok3n", "1700000000001", "abc", sealed["encrypt"])
    assert CIPHER.open(sealed["msg_signature"], "1700000000001", "abc", sealed["encrypt"]) == text


def test_random_prefix_makes_each_ciphertext_different() -> None:
    assert CIPHER.encrypt("success") != CIPHER.encrypt("success")


def test_tampered_signature_is_refused() -> None:
    bad = SUCCESS_SIGNATURE[:-1] + ("0" if SUCCESS_SIGNATURE[-1] != "0" else "1")
    with pytest.raises(CallbackSignatureInvalid):
        CIPHER.open(bad, "1700000000000", "nonce123", SUCCESS_SEALED)


def test_signature_covers_the_timestamp_and_nonce() -> None:
    with pytest.raises(CallbackSignatureInvalid):
        CIPHER.open(SUCCESS_SIGNATURE, "1700000000999", "nonce123", SUCCESS_SEALED)
    with pytest.raises(CallbackSignatureInvalid):
        CIPHER.open(SUCCESS_SIGNATURE, "1700000000000", "nonce124", SUCCESS_SEALED)


def test_wrong_token_fails_the_signature() -> None:
    other = CallbackCipher(token="other", aes_key=AES_KEY, receiver_id="dingcorp01")
    with pytest.raises(CallbackSignatureInvalid):
        other.open(SUCCESS_SIGNATURE, "1700000000000", "nonce123", SUCCESS_SEALED)


def test_wrong_key_cannot_decrypt() -> None:
    other_key = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
    other = CallbackCipher(token="tok3n", aes_key=other_key, receiver_id="dingcorp01")
    # Under another key the plaintext is noise: its padding bytes disagree.
    with pytest.raises(CallbackUndecryptable, match="padding"):
        other.decrypt(SUCCESS_SEALED)


def test_another_receiver_is_refused() -> None:
    other = CallbackCipher(token="tok3n", aes_key=AES_KEY, receiver_id="dingcorp02")
    with pytest.raises(CallbackUndecryptable, match="another corp"):
        other.decrypt(SUCCESS_SEALED)


def _raw_encrypt(plain: bytes) -> str:
    key = bytes(range(32))
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def test_bad_padding_is_refused() -> None:
    body = PREFIX + b"\x00\x00\x00\x07successdingcorp01"
    # 37 + 11 = 48 bytes whose last byte says "11 pad bytes" but whose other 10 say 5.
    tampered = body + bytes([5]) * 10 + bytes([11])
    with pytest.raises(CallbackUndecryptable, match="padding"):
        CIPHER.decrypt(_raw_encrypt(tampered))
    zero_pad = body + bytes(27)  # a pad count of 0 is never valid
    with pytest.raises(CallbackUndecryptable, match="padding"):
        CIPHER.decrypt(_raw_encrypt(zero_pad))


def test_length_longer_than_the_plaintext_is_refused() -> None:
    body = PREFIX + b"\x00\x00\x01\x00success"  # claims 256 bytes, holds 7
    padded = body + bytes([32 - len(body) % 32]) * (32 - len(body) % 32)
    with pytest.raises(CallbackUndecryptable, match="shorter"):
        CIPHER.decrypt(_raw_encrypt(padded))


@pytest.mark.parametrize("text", ["not base64!", "", "AAAA"])
def test_garbage_ciphertext_is_refused(text: str) -> None:
    with pytest.raises(CallbackUndecryptable):
        CIPHER.decrypt(text)


@pytest.mark.parametrize("key", ["short", AES_KEY + "A", "!" * 43])
def test_malformed_aes_key_is_a_config_error_naming_the_setting(key: str) -> None:
    with pytest.raises(ConfigError, match="dingtalk_callback_aes_key"):
        decode_aes_key(key)
    with pytest.raises(ConfigError):
        CallbackCipher(token="t", aes_key=key, receiver_id="r")


def test_new_aes_key_is_usable() -> None:
    key = new_aes_key()
    assert len(key) == 43
    assert len(decode_aes_key(key)) == 32


def test_secrets_stay_out_of_repr() -> None:
    assert "tok3n" not in repr(CIPHER)
    assert AES_KEY not in repr(CIPHER)
    assert "dingcorp01" in repr(CIPHER)
