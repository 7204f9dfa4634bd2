"""Attribute paths and transforms: literal values in, literal values out."""

from __future__ import annotations

import pytest

from scim_bridge.mapping.attributes import (
    compile_path,
    normalise_phone,
    sanitize_department_name,
    sanitize_userid,
    to_bool,
    to_epoch_ms,
)

USER = {
    "id": "u1",
    "Title": "Engineer",
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "phoneNumbers": [
        {"value": "+86 10 1234 5678", "type": "work", "primary": True},
        {"value": "139 1234 5678", "type": "mobile"},
    ],
    "emails": [{"value": "home@x.cn", "type": "home"}, {"value": "a@acme.cn", "type": "work"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "E7",
        "manager": {"value": "u9"},
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("title", ["Engineer"]),  # attribute names compare case-insensitively
        ("name.givenName", ["Ann"]),
        ('phoneNumbers[type eq "mobile"].value', ["139 1234 5678"]),
        ("phoneNumbers[primary eq true].value", ["+86 10 1234 5678"]),
        ("phoneNumbers.value", ["+86 10 1234 5678", "139 1234 5678"]),
        ('emails[type eq "work"].value', ["a@acme.cn"]),
        ("enterprise:employeeNumber", ["E7"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", ["u9"]),
        ("enterprise:manager.value", ["u9"]),
        ("nickName", []),
        ("dingtalk:workPlace", []),
    ],
)
def test_paths_reach_core_extension_and_filtered_values(path: str, expected: list[str]) -> None:
    assert compile_path(path).values(USER) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 139 1234 5678", "13912345678"),
        ("13912345678", "13912345678"),
        ("139-1234-5678", "13912345678"),
        ("0086 13912345678", "13912345678"),
        ("+852 5123 4567", "+852-51234567"),
        ("+44 7911 123456", "+44-7911123456"),
        ("+1 650 253 0000", "+1-6502530000"),
        ("12345", None),
        ("call me", None),
        ("+86 10 1234 5678", None),  # a Beijing landline is not a mobile
    ],
)
def test_mobile_numbers_take_dingtalks_format(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw, "CN") == expected


def test_mainland_numbers_can_be_written_internationally() -> None:
    assert normalise_phone("13912345678", "CN", mainland="international") == "+86-13912345678"


def test_default_region_reads_numbers_without_country_code() -> None:
    assert normalise_phone("5123 4567", "HK") == "+852-51234567"


def test_phone_transform_accepts_landlines_mobile_does_not() -> None:
    assert normalise_phone("+86 10 1234 5678", "CN", mobile_only=False) == "1012345678"


def test_userid_keeps_allowed_characters_and_replaces_others() -> None:
    assert sanitize_userid("00uAb_9.x@y-z") == "00uAb_9.x@y-z"
    # Replaced characters make it a different text: the hash of the original keeps it apart.
    assert sanitize_userid("Zhang San/张三") == "Zhang_San____f737ffc3"


def test_long_userid_is_cut_with_a_deterministic_hash_suffix() -> None:
    long_a, long_b = "a" * 70, "a" * 69 + "b"
    out_a, out_b = sanitize_userid(long_a), sanitize_userid(long_b)
    assert len(out_a) == 64 and len(out_b) == 64
    assert out_a != out_b
    assert out_a == sanitize_userid(long_a)
    assert out_a.startswith("a" * 55 + "_")


def test_department_names_lose_forbidden_characters_and_are_trimmed() -> None:
    assert sanitize_department_name("Sales-EMEA, North，West") == (
        "Sales EMEA North West",
        [
            "department name 'Sales-EMEA, North，West' changed to 'Sales EMEA North West' "
            "(DingTalk forbids - , ，)"
        ],
    )
    name, warnings = sanitize_department_name("x" * 70)
    assert name == "x" * 64
    assert warnings == [f"department name {'x' * 70!r} trimmed to 64 chars"]
    assert sanitize_department_name("R&D", replacement="_") == ("R&D", [])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), ("True", True), ("false", False), (0, False), ("maybe", None)],
)
def test_booleans_as_idps_send_them(raw: object, expected: bool | None) -> None:
    assert to_bool(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01", 1709251200000),
        ("2024-03-01T08:00:00Z", 1709280000000),
        ("2024-03-01T16:00:00+08:00", 1709280000000),
        (1709251200000, 1709251200000),
        ("soon", None),
        (0, None),
    ],
)
def test_hired_dates_become_epoch_milliseconds(raw: object, expected: int | None) -> None:
    assert to_epoch_ms(raw) == expected
