"""Tests for the pure ``pseudonymisation`` package (BSN checks, keys, stage 1 and stage 2)."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import sys
import traceback
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pseudonymisation
from pseudonymisation import (
    KEY_SCHEME,
    LOOKS_LIKE_BSN_REASON,
    NOT_STAGE1_REASON,
    InvalidBSN,
    InvalidBSNLine,
    InvalidPseudonym,
    KeyFileError,
    PseudonymKey,
    generate_key,
    is_valid_bsn,
    key_from_text,
    key_to_text,
    load_key_file,
    looks_like_bsn,
    parse_stage1,
    pseudonymise_bsn,
    pseudonymise_lines,
    stage2,
    validate_bsn,
    write_key_file,
)

TEST_BSN = "111222333"  # a well-known test BSN: 9+8+7+12+10+8+9+6 - 3 = 66 = 6 * 11
PROVIDER_KEY = PseudonymKey("v1", bytes(range(32)))
OTHER_PROVIDER_KEY = PseudonymKey("v1", bytes(range(1, 33)))
TTP_KEY = PseudonymKey("v1", bytes(range(32, 64)))
OTHER_TTP_KEY = PseudonymKey("v2", bytes(range(32, 64)))
STAGE1_RE = re.compile(r"p1\.v1\.[A-Za-z0-9_-]{43}")
STAGE2_RE = re.compile(r"p2\.v[0-9]+\.[A-Za-z0-9_-]{43}")
PACKAGE_DIR = Path(pseudonymisation.__file__).parent


# --- independent reference implementation and strategies ------------------------------------


def reference_is_valid(value: str) -> bool:
    """Elfproef written independently of the package."""
    if len(value) != 9 or any(c not in "0123456789" for c in value):
        return False
    if value in ("000000000", "999999999"):
        return False
    total = sum((9 - i) * int(value[i]) for i in range(8)) - int(value[8])
    return total % 11 == 0


def complete_bsn(first8: str) -> str | None:
    """The 9-digit BSN starting with ``first8``, if a check digit exists."""
    check = sum((9 - i) * int(first8[i]) for i in range(8)) % 11
    return None if check == 10 else first8 + str(check)


nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
valid_bsns = (
    st.text(alphabet="0123456789", min_size=8, max_size=8)
    .map(complete_bsn)
    .filter(lambda v: v is not None and v != "000000000")
)
# A valid BSN with its last digit changed fails the elfproef (the check digit is unique mod 11).
invalid_check_bsns = st.tuples(valid_bsns, st.integers(1, 9)).map(
    lambda t: t[0][:8] + str((int(t[0][8]) + t[1]) % 10)
)
keys = st.builds(
    PseudonymKey,
    key_id=st.from_regex(r"v[0-9]{1,4}", fullmatch=True),
    secret=st.binary(min_size=32, max_size=32),
)
separators = st.sampled_from(["", "", " ", ".", "-"])
bsn_like = st.tuples(
    st.lists(st.tuples(st.sampled_from("0123456789"), separators), min_size=8, max_size=9),
    st.sampled_from(["", " ", "\t", "\n"]),
).map(lambda t: t[1] + "".join(d + s for d, s in t[0]) + t[1])


def assert_no_leak(secret_text: str, *texts: object) -> None:
    for text in texts:
        assert secret_text not in str(text), f"leaked into {text!r}"


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr, args and formatted form of ``exc`` and every exception chained to it."""
    out: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        out += [str(seen), repr(seen), repr(seen.args), repr(getattr(seen, "reason", ""))]
        out += traceback.format_exception_only(type(seen), seen)
        seen = seen.__cause__ or seen.__context__
    return out


# --- 1. BSN validation ----------------------------------------------------------------------


@given(nine_digits)
def test_is_valid_bsn_matches_reference_elfproef(value: str) -> None:
    assert is_valid_bsn(value) == reference_is_valid(value)


@given(valid_bsns)
def test_constructed_bsns_are_accepted(value: str) -> None:
    assert is_valid_bsn(value)
    assert validate_bsn(value) == value
    assert validate_bsn(f"  {value}\n") == value
    assert looks_like_bsn(value)


@given(invalid_check_bsns)
def test_wrong_check_digit_is_rejected(value: str) -> None:
    assert not is_valid_bsn(value)
    with pytest.raises(InvalidBSN, match="elfproef") as info:
        validate_bsn(value)
    assert value not in str(info.value)


def test_known_bsns() -> None:
    assert reference_is_valid(TEST_BSN) and is_valid_bsn(TEST_BSN)
    assert is_valid_bsn("123456782")
    assert not is_valid_bsn("123456789")
    # 000000000 passes the arithmetic but is no person; 999999999 is a placeholder.
    assert sum((9 - i) * 0 for i in range(8)) % 11 == 0
    for reserved in ("000000000", "999999999"):
        assert not is_valid_bsn(reserved)
        with pytest.raises(InvalidBSN, match="reserved"):
            validate_bsn(reserved)


@given(
    st.text(max_size=20).filter(
        lambda s: len(s) != 9 or any(c not in "0123456789" for c in s)
    )
)
def test_non_digit_or_wrong_length_is_rejected(value: str) -> None:
    assert not is_valid_bsn(value)


@given(st.text(alphabet="0123456789", min_size=0, max_size=20).filter(lambda s: len(s) != 9))
def test_wrong_length_message(value: str) -> None:
    with pytest.raises(InvalidBSN) as info:
        validate_bsn(value)
    assert ("empty" if value == "" else "not 9 digits") in info.value.reason
    if len(value) >= 3:  # shorter strings occur in any message ("has 2")
        assert value not in str(info.value)


def test_eight_digits_are_not_padded() -> None:
    padded = "012345672"  # valid: 8+14+18+20+20+18+14 - 2 = 110 = 10 * 11
    assert reference_is_valid(padded) and is_valid_bsn(padded)
    assert not is_valid_bsn(padded[1:])
    with pytest.raises(InvalidBSN, match="not 9 digits .*leading zero"):
        validate_bsn(padded[1:])
    with pytest.raises(InvalidBSN):
        pseudonymise_bsn(padded[1:], PROVIDER_KEY)
    assert looks_like_bsn(padded[1:])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("11122233a", "digits 0-9"),
        ("111 222 333", "digits 0-9"),
        ("111.222.333", "digits 0-9"),
        ("١١١٢٢٢٣٣٣", "digits 0-9"),  # Arabic-Indic digits are not ASCII digits
        ("1112223334", "not 9 digits"),
        ("111222334", "elfproef"),
        ("000000000", "reserved"),
    ],
)
def test_validate_bsn_reasons(value: str, fragment: str) -> None:
    assert not is_valid_bsn(value)
    with pytest.raises(InvalidBSN) as info:
        validate_bsn(value)
    assert fragment in str(info.value)
    assert info.value.reason == str(info.value)
    if value.strip():
        assert value.strip() not in str(info.value)


def test_validate_bsn_rejects_non_strings() -> None:
    assert not is_valid_bsn(111222333)
    with pytest.raises(InvalidBSN, match="not a string"):
        validate_bsn(111222333)


@given(bsn_like)
def test_looks_like_bsn_with_separators(value: str) -> None:
    assert looks_like_bsn(value)


@pytest.mark.parametrize("value", ["1234567", "1234567890", "p1.v1.123456789", "abcdefghi", "", "12345678a"])
def test_looks_like_bsn_negative(value: str) -> None:
    assert not looks_like_bsn(value)


# --- 2. stage 1 -----------------------------------------------------------------------------


def expected_stage1(bsn: str, key: PseudonymKey) -> str:
    mac = hmac.new(key.secret, b"outcome-ttp/stage1/" + bsn.encode(), hashlib.sha256).digest()
    return f"p1.{key.key_id}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def expected_stage2(value: str, key: PseudonymKey) -> str:
    mac = hmac.new(key.secret, b"outcome-ttp/stage2/" + value.encode(), hashlib.sha256).digest()
    return f"p2.{key.key_id}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_known_answer_stage1_and_stage2() -> None:
    assert is_valid_bsn(TEST_BSN)
    s1 = pseudonymise_bsn(TEST_BSN, PROVIDER_KEY)
    assert s1 == expected_stage1(TEST_BSN, PROVIDER_KEY)
    # Pinned literals: a change of prefix, encoding or hash is a breaking change of the scheme.
    assert s1 == "p1.v1.uOh4baqATJGOmzeFp8Pn-PSunoL1pfeMq0asJk9xFoU"
    s2 = stage2(s1, TTP_KEY)
    assert s2 == expected_stage2(s1, TTP_KEY)
    assert s2 == "p2.v1.Yp76WtBlj5XPvZdeTxqahPNgMJCHAdZ8-UdmUAfExn8"


@given(valid_bsns)
def test_stage1_is_deterministic_and_well_formed(bsn: str) -> None:
    value = pseudonymise_bsn(bsn, PROVIDER_KEY)
    assert value == pseudonymise_bsn(bsn, PROVIDER_KEY)
    assert value == pseudonymise_bsn(f" {bsn}\r\n", PROVIDER_KEY)
    assert value == expected_stage1(bsn, PROVIDER_KEY)
    assert STAGE1_RE.fullmatch(value)
    assert bsn not in value
    assert re.search(r"[0-9]{9}", value) is None
    assert parse_stage1(value) == ("v1", value.split(".")[2])


@given(valid_bsns, keys, keys)
def test_stage1_differs_between_keys(bsn: str, k1: PseudonymKey, k2: PseudonymKey) -> None:
    assume(k1.secret != k2.secret)
    a, b = pseudonymise_bsn(bsn, k1), pseudonymise_bsn(bsn, k2)
    assert a.split(".")[2] != b.split(".")[2]
    assert a.split(".")[1] == k1.key_id


@given(valid_bsns, valid_bsns)
def test_stage1_differs_between_bsns(a: str, b: str) -> None:
    assume(a != b)
    assert pseudonymise_bsn(a, PROVIDER_KEY) != pseudonymise_bsn(b, PROVIDER_KEY)


@given(st.one_of(invalid_check_bsns, st.text(max_size=12)).filter(lambda s: not is_valid_bsn(s.strip())))
def test_stage1_rejects_invalid_bsns(value: str) -> None:
    with pytest.raises(InvalidBSN):
        pseudonymise_bsn(value, PROVIDER_KEY)


# --- 3. stage 2 -----------------------------------------------------------------------------


@given(valid_bsns, keys)
def test_stage2_is_stable_and_differs_from_stage1(bsn: str, ttp_key: PseudonymKey) -> None:
    s1 = pseudonymise_bsn(bsn, PROVIDER_KEY)
    s2 = stage2(s1, ttp_key)
    assert s2 == stage2(s1, ttp_key)
    assert s2 == expected_stage2(s1, ttp_key)
    assert STAGE2_RE.fullmatch(s2) and s2.startswith(f"p2.{ttp_key.key_id}.")
    assert s2.split(".")[2] != s1.split(".")[2]
    # stage 2 of the stage-1 value is not stage 1 with the TTP key, nor stage 2 of the BSN
    assert s2.split(".")[2] != pseudonymise_bsn(bsn, ttp_key).split(".")[2]


@given(valid_bsns, keys, keys)
def test_stage2_differs_between_ttp_keys(bsn: str, k1: PseudonymKey, k2: PseudonymKey) -> None:
    assume(k1.secret != k2.secret)
    s1 = pseudonymise_bsn(bsn, PROVIDER_KEY)
    assert stage2(s1, k1).split(".")[2] != stage2(s1, k2).split(".")[2]


def test_stage2_depends_on_provider_key_version() -> None:
    """A replaced provider key (new key id) gives a different stage-2 value for the same person."""
    v1 = pseudonymise_bsn(TEST_BSN, PROVIDER_KEY)
    v2 = pseudonymise_bsn(TEST_BSN, PseudonymKey("v2", PROVIDER_KEY.secret))
    assert v1.split(".")[2] == v2.split(".")[2]  # same secret, same digest ...
    assert stage2(v1, TTP_KEY) != stage2(v2, TTP_KEY)  # ... but the key id is hashed in too
    assert stage2(v1, OTHER_TTP_KEY).startswith("p2.v2.")  # the TTP key id labels stage 2


@given(bsn_like)
def test_parse_stage1_refuses_bsn_like_values(value: str) -> None:
    for func in (parse_stage1, lambda v: stage2(v, TTP_KEY)):
        with pytest.raises(InvalidPseudonym) as info:
            func(value)
        assert info.value.reason == LOOKS_LIKE_BSN_REASON
        digits = "".join(c for c in value if c.isdigit())
        assert digits not in str(info.value)


@given(st.one_of(valid_bsns, invalid_check_bsns))
def test_parse_stage1_refuses_plain_bsns(value: str) -> None:
    with pytest.raises(InvalidPseudonym, match="looks like a BSN"):
        parse_stage1(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "p1.v1.",
        "p1.v1.short",
        "p1.x1." + "A" * 43,
        "p1.v12345." + "A" * 43,
        "p3.v1." + "A" * 43,
        "p1.v1." + "A" * 44,
        "p1.v1." + "A" * 42 + "=",
        "p1.v1." + "A" * 42 + "B",  # non-canonical: unused low bits set
        "p1.v1." + "A" * 42 + "+",
        " p1.v1." + "A" * 43,
        "p1.v1." + "A" * 43 + "\n",
        "P1.V1." + "A" * 43,
    ],
)
def test_parse_stage1_rejects_malformed(value: str) -> None:
    with pytest.raises(InvalidPseudonym) as info:
        parse_stage1(value)
    assert info.value.reason.startswith(NOT_STAGE1_REASON)
    if value.strip():
        assert value.strip() not in str(info.value)


def test_parse_stage1_explains_stage2_input_and_non_strings() -> None:
    s2 = stage2(pseudonymise_bsn(TEST_BSN, PROVIDER_KEY), TTP_KEY)
    with pytest.raises(InvalidPseudonym, match="stage-2") as info:
        parse_stage1(s2)
    assert s2 not in str(info.value)
    with pytest.raises(InvalidPseudonym, match="not a string"):
        parse_stage1(None)


def test_parse_stage1_accepts_canonical_digest() -> None:
    value = "p1.v7." + "A" * 42 + "E"
    assert parse_stage1(value) == ("v7", "A" * 42 + "E")


# --- 4. no BSN is returned, raised, logged or printed --------------------------------------


def run_everything(bsn: str) -> tuple[list[object], list[BaseException]]:
    """Call every public function with ``bsn`` (valid or not); collect results and errors."""
    results: list[object] = []
    errors: list[BaseException] = []
    calls = [
        lambda: is_valid_bsn(bsn),
        lambda: looks_like_bsn(bsn),
        lambda: validate_bsn(bsn) and None,  # returning the BSN is this function's job
        lambda: pseudonymise_bsn(bsn, PROVIDER_KEY),
        lambda: list(pseudonymise_lines([TEST_BSN + "\n", bsn + "\n"], PROVIDER_KEY)),
        lambda: parse_stage1(bsn),
        lambda: stage2(bsn, TTP_KEY),
        lambda: stage2(pseudonymise_bsn(bsn, PROVIDER_KEY), TTP_KEY),
        lambda: parse_stage1(pseudonymise_bsn(bsn, PROVIDER_KEY)),
        lambda: PseudonymKey("v1", bsn.encode()),
        lambda: PseudonymKey(bsn, bytes(32)),
        lambda: key_from_text(bsn),
        lambda: key_from_text(json.dumps({"scheme": KEY_SCHEME, "key_id": bsn, "key": bsn})),
        lambda: key_from_text(json.dumps({"scheme": bsn, "key_id": "v1", "key": bsn})),
    ]
    for call in calls:
        try:
            results.append(call())
        except (ValueError, TypeError) as exc:
            errors.append(exc)
    return results, errors


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(bsn=st.one_of(valid_bsns, invalid_check_bsns, st.sampled_from(["000000000", "999999999"])))
def test_no_bsn_leaks_anywhere(
    bsn: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results, errors = run_everything(bsn)
    out, err = capsys.readouterr()
    assert errors, "invalid inputs must have raised"
    for result in results:
        assert_no_leak(bsn, result, repr(result))
    for exc in errors:
        assert_no_leak(bsn, *exception_texts(exc))
    assert_no_leak(bsn, caplog.text, out, err, *(str(w.message) for w in caught))
    assert not [r for r in caplog.records if r.name.startswith("pseudonymisation")]
    assert out == "" and err == ""


@pytest.mark.parametrize("value", ["111 222 333", "111.222.333", "11122233", "11122233x", " 111222334 "])
def test_no_leak_for_malformed_bsns(value: str) -> None:
    _, errors = run_everything(value)
    core = value.strip()
    for exc in errors:
        assert_no_leak(core, *exception_texts(exc))


def _package_modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE_DIR.glob("*.py"))]


def test_package_does_not_print_log_or_import_the_app() -> None:
    allowed = set(sys.stdlib_module_names)
    for path, tree in _package_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", f"print() in {path.name}"
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level else [(node.module or "").split(".")[0]]
            else:
                continue
            for name in names:
                assert name in allowed and name not in ("logging", "warnings"), f"{name} in {path.name}"


# --- 5. key files ---------------------------------------------------------------------------


def test_generate_key() -> None:
    a, b = generate_key(), generate_key("v12")
    assert a.key_id == "v1" and b.key_id == "v12"
    assert len(a.secret) == 32 and a.secret != b.secret
    for bad_id in ("1", "v", "v12345", "V1", "v1 ", "v1\n", "key1", "v١"):
        with pytest.raises(ValueError, match="key id"):
            generate_key(bad_id)


@pytest.mark.parametrize("secret", [b"", bytes(31), bytes(33), bytearray(32), "x" * 32])
def test_key_secret_must_be_32_bytes(secret: object) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PseudonymKey("v1", secret)


def test_repr_hides_secret() -> None:
    key = generate_key("v3")
    text = key_to_text(key)
    encoded = json.loads(text)["key"]
    for shown in (repr(key), str(key), f"{key}", repr([key])):
        assert "v3" in shown
        for secret_form in (encoded, key.secret.hex(), repr(key.secret)[2:-1], str(list(key.secret))[1:-1]):
            assert secret_form not in shown


def test_key_text_round_trip_and_format() -> None:
    key = generate_key("v2")
    text = key_to_text(key)
    data = json.loads(text)
    assert set(data) == {"scheme", "key_id", "key"}
    assert data["scheme"] == "outcome-ttp-pseudonym" and data["key_id"] == "v2"
    assert "=" not in data["key"] and len(data["key"]) == 43
    assert base64.urlsafe_b64decode(data["key"] + "=") == key.secret
    assert key_from_text(text) == key
    assert key_from_text(text.encode()) == key


def test_key_file_round_trip_and_mode(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "provider.key"
    old_umask = os.umask(0)  # even with a permissive umask the file must be private
    try:
        write_key_file(key, path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == key
    assert load_key_file(str(path)) == key
    assert json.loads(path.read_text()) == json.loads(key_to_text(key))


def test_key_file_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    first, second = generate_key(), generate_key()
    write_key_file(first, path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="exists"):
        write_key_file(second, path)
    assert path.read_bytes() == before
    path.chmod(0o644)
    write_key_file(second, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == second


def test_key_file_not_written_through_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(target)
    for overwrite in (False, True):
        with pytest.raises(KeyFileError):
            write_key_file(generate_key(), link, overwrite=overwrite)
    assert target.read_text() == "keep"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o660])
def test_group_or_world_accessible_key_file_refused(tmp_path: Path, mode: int) -> None:
    key = generate_key()
    path = tmp_path / "k.json"
    write_key_file(key, path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="0600") as info:
        load_key_file(path)
    assert json.loads(key_to_text(key))["key"] not in str(info.value)
    assert load_key_file(path, require_private=False) == key
    path.chmod(0o400)
    assert load_key_file(path) == key


KEY_JSON = '{{"scheme": "outcome-ttp-pseudonym", "key_id": "v1", "key": "{key}"}}'


def write_raw(path: Path, content: str) -> Path:
    path.write_text(content)
    path.chmod(0o600)
    return path


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"scheme": "other", "key_id": "v1", "key": b64(bytes(32))}), "wrong scheme"),
        (json.dumps({"key_id": "v1", "key": b64(bytes(32))}), "wrong scheme"),
        (json.dumps({"scheme": KEY_SCHEME, "key_id": "1", "key": b64(bytes(32))}), "bad key id"),
        (json.dumps({"scheme": KEY_SCHEME, "key_id": 1, "key": b64(bytes(32))}), "bad key id"),
        (json.dumps({"scheme": KEY_SCHEME, "key_id": "v1"}), "missing key"),
        (json.dumps({"scheme": KEY_SCHEME, "key_id": "v1", "key": b64(b"\x07" * 16)}), "wrong key length"),
        (json.dumps({"scheme": KEY_SCHEME, "key_id": "v1", "key": b64(b"\x07" * 33)}), "wrong key length"),
        (KEY_JSON.format(key=base64.urlsafe_b64encode(bytes(32)).decode()), "base64url"),  # padded
        (KEY_JSON.format(key=base64.b64encode(b"\xfb" * 32).decode()), "base64url"),  # "+/" alphabet
    ],
)
def test_bad_key_files(tmp_path: Path, content: str, fragment: str) -> None:
    path = write_raw(tmp_path / "k.json", content)
    with pytest.raises(KeyFileError, match=fragment) as info:
        load_key_file(path)
    message = str(info.value)
    assert str(path) in message
    try:
        material = json.loads(content).get("key")
    except (ValueError, AttributeError):
        material = None
    if material:
        assert_no_leak(material, *exception_texts(info.value))
    with pytest.raises(KeyFileError, match=fragment):
        key_from_text(content)


def test_bad_json_message_does_not_echo_content(tmp_path: Path) -> None:
    secretish = b64(b"\x42" * 32)
    content = '{"scheme": "outcome-ttp-pseudonym", "key": "' + secretish + '", oops}'
    path = write_raw(tmp_path / "k.json", content)
    with pytest.raises(KeyFileError, match="not valid JSON") as info:
        load_key_file(path)
    assert_no_leak(secretish, *exception_texts(info.value))


def test_missing_and_non_regular_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        load_key_file(tmp_path / "absent.json")
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key_file(tmp_path)
    big = write_raw(tmp_path / "big.json", " " * 10_000)
    with pytest.raises(KeyFileError, match="too large"):
        load_key_file(big)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    binary.chmod(0o600)
    with pytest.raises(KeyFileError, match="UTF-8"):
        load_key_file(binary)


# --- 6. pseudonymise_lines ------------------------------------------------------------------


def test_pseudonymise_lines_happy_path() -> None:
    other = "123456782"
    lines = [TEST_BSN + "\n", f"  {other}\r\n", TEST_BSN]
    assert list(pseudonymise_lines(lines, PROVIDER_KEY)) == [
        pseudonymise_bsn(TEST_BSN, PROVIDER_KEY),
        pseudonymise_bsn(other, PROVIDER_KEY),
        pseudonymise_bsn(TEST_BSN, PROVIDER_KEY),
    ]
    text = f"{TEST_BSN}\n{other}\n"
    assert len(list(pseudonymise_lines(text.split("\n"), PROVIDER_KEY))) == 2  # trailing newline ok
    assert len(list(pseudonymise_lines(text.splitlines(keepends=True), PROVIDER_KEY))) == 2
    assert list(pseudonymise_lines([], PROVIDER_KEY)) == []


@pytest.mark.parametrize(
    ("lines", "line_number", "fragment"),
    [
        (["111222333\n", "111222334\n", "123456782\n"], 2, "elfproef"),
        (["111222333\n", "123456782\n", "11122233\n"], 3, "not 9 digits"),
        (["111 222 333\n"], 1, "digits 0-9"),
        (["111222333\n", "\n", "123456782\n"], 2, "empty"),
        (["111222333\n", "   \n"], 2, "empty"),  # a real blank line at the end
        (["111222333", "", "123456782"], 2, "empty"),  # split("\n") of an inner blank line
        (["", "111222333"], 1, "empty"),
        (["111222333\n", "000000000\n"], 2, "reserved"),
    ],
)
def test_pseudonymise_lines_reports_bad_line(lines: list[str], line_number: int, fragment: str) -> None:
    with pytest.raises(InvalidBSNLine) as info:
        list(pseudonymise_lines(lines, PROVIDER_KEY))
    exc = info.value
    assert isinstance(exc, ValueError) and isinstance(exc, InvalidBSN)
    assert exc.line_number == line_number
    assert str(exc).startswith(f"line {line_number}: ")
    assert fragment in str(exc)
    for line in lines:
        if line.strip():
            assert_no_leak(line.strip(), *exception_texts(exc))


@given(st.lists(valid_bsns, max_size=8), st.data())
def test_pseudonymise_lines_bad_line_number(good: list[str], data: st.DataObject) -> None:
    bad = data.draw(invalid_check_bsns)
    position = data.draw(st.integers(0, len(good)))
    lines = [b + "\n" for b in good[:position]] + [bad + "\n"] + [b + "\n" for b in good[position:]]
    produced: list[str] = []
    with pytest.raises(InvalidBSNLine) as info:
        for value in pseudonymise_lines(lines, PROVIDER_KEY):
            produced.append(value)
    assert info.value.line_number == position + 1
    assert str(info.value) == f"line {position + 1}: fails the elfproef (11-test)"
    assert produced == [pseudonymise_bsn(b, PROVIDER_KEY) for b in good[:position]]
    assert_no_leak(bad, *exception_texts(info.value))
