"""A database URL's secrets are masked in whatever spelling the driver would read them:
percent-encoded names and values, names in any case, repeated parameters, the userinfo,
server settings in ``options``; in one URL, in free text, in a JSON log line."""

import random
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.redaction import MASK, is_secret_name, mask_url, redact

#: Characters a URL may hold as they are in a query value or a userinfo password.
RAW_IN_VALUE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*,;:@/?="
RAW_IN_PASSWORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*,;=:"
#: The names asyncpg and libpq read a password or a key passphrase from.
SECRET_NAMES = ["password", "sslpassword"]
PLAIN = ["sslmode=verify-full", "application_name=orders", "target_session_attrs=read-write"]
# A secret starts with this, so finding it can only mean a leak.
MARK = "Zq"


def _percent(char: str, rng: random.Random) -> str:
    return "".join(
        f"%{byte:02X}" if rng.random() < 0.5 else f"%{byte:02x}" for byte in char.encode()
    )


def _spelled(text: str, raw: str, rng: random.Random) -> str:
    """``text`` as a URL may spell it: each character as is (where it may be), ``+`` for
    a space, or percent-encoded, in either case of hex digit."""
    out = []
    for char in text:
        if char in raw and rng.random() < 0.6:
            out.append(char)
        elif char == " " and rng.random() < 0.5:
            out.append("+")
        else:
            out.append(_percent(char, rng))
    return "".join(out)


def _name(name: str, rng: random.Random) -> str:
    cased = "".join(c.upper() if rng.random() < 0.3 else c for c in name)
    spelled = "".join(_percent(c, rng) if rng.random() < 0.3 else c for c in cased)
    return unquote(spelled).replace("%", "%25") if rng.random() < 0.1 else spelled


secrets = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12).map(
    lambda text: MARK + text
)


@st.composite
def database_urls(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A URL holding secrets in every place and spelling, and the secrets it holds."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    password, in_options = draw(secrets), draw(secrets)
    repeated = draw(st.lists(st.tuples(st.sampled_from(SECRET_NAMES), secrets), min_size=1))
    parameters = [f"{_name(name, rng)}={_spelled(value, RAW_IN_VALUE, rng)}"
                  for name, value in repeated]  # fmt: skip
    options = _spelled(f"-c app.secret={in_options}", RAW_IN_VALUE, rng)
    parameters += [*PLAIN, f"{_name('options', rng)}={options}"]
    rng.shuffle(parameters)
    userinfo = f"referrals:{_spelled(password, RAW_IN_PASSWORD, rng)}"
    url = f"postgresql://{userinfo}@db.example:5432/referrals?{'&'.join(parameters)}"
    return url, [password, in_options, *(value for _, value in repeated)]


def _leaks(shown: str, secret: str) -> bool:
    return any(secret in seen for seen in (shown, unquote(shown), unquote_plus(shown)))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(database_urls())
def test_no_secret_of_a_url_shows_in_any_spelling(case: tuple[str, list[str]]) -> None:
    url, held = case
    log_line = orjson.dumps({"error": f"cannot connect to {url}: refused"}).decode()
    for shown in (mask_url(url), redact(f"connecting to {url} failed"), redact(log_line)):
        assert not [secret for secret in held if _leaks(shown, secret)], shown
        assert "@db.example:5432/referrals?" in shown
        assert all(plain in shown for plain in PLAIN), "only secrets are masked"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(database_urls())
def test_every_secret_the_driver_reads_is_masked(case: tuple[str, list[str]]) -> None:
    parts = urlsplit(mask_url(case[0]))
    assert parts.password == MASK
    read = parse_qsl(parts.query, keep_blank_values=True)
    secret = [value for name, value in read if name.lower() in {*SECRET_NAMES, "options"}]
    assert len(secret) >= 2
    assert set(secret) == {MASK}


@pytest.mark.parametrize(
    ("name", "secret"),
    [("password", True), ("pass%77ord", True), ("PASS%2577ORD", True), ("pass+word", True),
     ("sslpassword", True), ("sslkey", True), ("passfile", True), ("PWD", True),
     ("user", False), ("sslmode", False), ("host", False), ("options", False)],
)  # fmt: skip
def test_a_name_is_read_as_the_driver_reads_it(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_options_are_masked_only_when_they_name_a_secret() -> None:
    search_path = "postgresql://db/r?options=-c%20search_path%3Dorders"
    assert mask_url(search_path) == search_path
    assert mask_url("postgresql://db/r?options=-c+app.tok%65n%3Dabc") == (
        "postgresql://db/r?options=***"
    )


def test_a_percent_encoded_name_is_masked_in_a_url_and_in_free_text() -> None:
    url = "postgresql://u@db/r?pass%77ord=hunter2&sslmode=require"
    assert mask_url(url) == "postgresql://u@db/r?pass%77ord=***&sslmode=require"
    assert "hunter2" not in redact(f"error: '{url}' refused; retry ?pass%77ord=hunter2")
