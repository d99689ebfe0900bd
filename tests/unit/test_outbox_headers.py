"""Outbox headers are stored packed, and read back whichever way a row holds them."""

import pytest

from service.store.rows import headers_from_column, headers_packed, headers_to_text

CASES = [
    (),
    (("ce_id", b"e-1"),),
    (("bin", bytes(range(256))), ("none", None), ("ce_id", b""), ("\u00e9t\u00e9", b"x")),
    (("dup", b"1"), ("dup", b"2")),
]


@pytest.mark.parametrize("headers", CASES)
def test_packed_headers_read_back_equal(headers: tuple[tuple[str, bytes | None], ...]) -> None:
    packed = headers_packed(headers)
    assert isinstance(packed, bytes)
    assert headers_from_column(packed) == headers


@pytest.mark.parametrize("headers", CASES)
def test_headers_stored_as_json_text_read_back_equal(
    headers: tuple[tuple[str, bytes | None], ...],
) -> None:
    assert headers_from_column(headers_to_text(headers)) == headers


def test_packed_headers_are_smaller_than_their_json_text() -> None:
    headers = (("ce_id", b"59e74120-2a2e-5296-a7c3-9edc2db251b2"), ("ce_type", b"referral.created"))
    assert len(headers_packed(headers)) < len(headers_to_text(headers).encode())


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ((), "[]"),
        ((("ce_id", b"id-7"), ("raw", bytes([0, 255, 7])), ("absent", None)),
         '[["ce_id","aWQtNw=="],["raw","AP8H"],["absent",null]]'),
        ((("\u00e9\x01\"\\", b""),), '[["\u00e9\\u0001\\"\\\\",""]]'),
    ],
)  # fmt: skip
def test_the_json_text_of_headers_is_the_text_older_versions_wrote_and_read(
    headers: tuple[tuple[str, bytes | None], ...], text: str
) -> None:
    """PostgreSQL replicas of the previous version run beside the new ones while a release
    rolls out: they read the rows the new ones write, and the new ones read theirs."""
    assert headers_to_text(headers) == text
    assert headers_from_column(text) == headers
