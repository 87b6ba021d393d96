"""Tests for app.crypto.envelope (security property 4: data at rest is unreadable without keys)."""

from __future__ import annotations

import copy
import pickle
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.crypto import envelope
from app.crypto.envelope import (
    FORMAT_VERSION,
    BatchSealer,
    DecryptionFailed,
    Kek,
    NonceExhausted,
    UnknownKek,
    Unsealer,
    WrappedKey,
    generate_kek,
    open_sealed,
    record_aad,
    rewrap,
)

SECRET = b"mark=8;2025-03-31"


@pytest.fixture
def kek() -> Kek:
    return generate_kek("kek-2025-01")


@pytest.fixture
def keks(kek: Kek) -> dict[str, Kek]:
    return {kek.key_id: kek}


def counter_of(ciphertext: bytes) -> int:
    version, counter = struct.unpack(">BQ", ciphertext[:9])
    assert version == FORMAT_VERSION
    return counter


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- round trip and formats -------------------------------------------------------------------


def test_round_trip(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    aad = record_aad("rec-1", "AGB-12345678", 1)
    ciphertext = sealer.seal(SECRET, aad)
    assert open_sealed(sealer.wrapped_key, ciphertext, aad, keks) == SECRET
    assert Unsealer(keks).open(sealer.wrapped_key, ciphertext, aad) == SECRET


def test_formats(kek: Kek) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"aad")
    assert ciphertext[0] == 1
    assert counter_of(ciphertext) == 0
    assert len(ciphertext) == 1 + 8 + len(SECRET) + 16
    wrapped = sealer.wrapped_key
    assert wrapped.kek_id == kek.key_id
    assert len(wrapped.blob) == 12 + 32 + 16


def test_empty_plaintext_round_trips(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(b"", b"")
    assert open_sealed(sealer.wrapped_key, ciphertext, b"", keks) == b""


@settings(max_examples=60, deadline=None)
@given(
    plaintext=st.binary(max_size=2048),
    record_id=st.text(max_size=40),
    provider_id=st.text(max_size=20),
    version=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_round_trip_property(plaintext: bytes, record_id: str, provider_id: str, version: int) -> None:
    kek = generate_kek("k")
    keks = {"k": kek}
    sealer = BatchSealer(kek)
    aad = record_aad(record_id, provider_id, version)
    ciphertext = sealer.seal(plaintext, aad)
    assert open_sealed(sealer.wrapped_key, ciphertext, aad, keks) == plaintext
    # and a rewrapped key still opens it
    new = generate_kek("k2")
    assert open_sealed(rewrap(sealer.wrapped_key, keks, new), ciphertext, aad, {"k2": new}) == plaintext


# --- AAD binding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        ("rec-2", "AGB-1", 1),  # other record id
        ("rec-1", "AGB-2", 1),  # other provider
        ("rec-1", "AGB-1", 2),  # other format version
    ],
)
def test_aad_binding(kek: Kek, keks: dict[str, Kek], other: tuple[str, str, int]) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, record_aad("rec-1", "AGB-1", 1))
    with pytest.raises(DecryptionFailed):
        open_sealed(sealer.wrapped_key, ciphertext, record_aad(*other), keks)
    with pytest.raises(DecryptionFailed):
        Unsealer(keks).open(sealer.wrapped_key, ciphertext, record_aad(*other))


def test_ciphertext_moved_to_another_record_fails(kek: Kek, keks: dict[str, Kek]) -> None:
    # Two rows of the same batch: swapping their payloads must not decrypt.
    sealer = BatchSealer(kek)
    rows = {
        "rec-1": sealer.seal(b"mark=8;2025-03-31", record_aad("rec-1", "AGB-1", 1)),
        "rec-2": sealer.seal(b"mark=2;2025-04-01", record_aad("rec-2", "AGB-1", 1)),
    }
    unsealer = Unsealer(keks)
    assert unsealer.open(sealer.wrapped_key, rows["rec-1"], record_aad("rec-1", "AGB-1", 1)) == SECRET
    with pytest.raises(DecryptionFailed):
        unsealer.open(sealer.wrapped_key, rows["rec-1"], record_aad("rec-2", "AGB-1", 1))
    with pytest.raises(DecryptionFailed):
        unsealer.open(sealer.wrapped_key, rows["rec-2"], record_aad("rec-1", "AGB-1", 1))


def test_ciphertext_moved_to_another_batch_fails(kek: Kek, keks: dict[str, Kek]) -> None:
    a, b = BatchSealer(kek), BatchSealer(kek)
    aad = record_aad("rec-1", "AGB-1", 1)
    ciphertext = a.seal(SECRET, aad)
    with pytest.raises(DecryptionFailed):
        open_sealed(b.wrapped_key, ciphertext, aad, keks)


def test_record_aad_is_unambiguous() -> None:
    # Without length prefixes these pairs would collide when concatenated.
    assert record_aad("ab", "c", 1) != record_aad("a", "bc", 1)
    assert record_aad("a|b", "c", 1) != record_aad("a", "b|c", 1)
    assert record_aad("", "abc", 1) != record_aad("abc", "", 1)
    assert record_aad("a", "b", 1) != record_aad("a", "b", 256)
    assert record_aad("a", "b", 1) == record_aad("a", "b", 1)


@settings(max_examples=200, deadline=None)
@given(
    a=st.tuples(st.text(max_size=6), st.text(max_size=6), st.integers(0, 3)),
    b=st.tuples(st.text(max_size=6), st.text(max_size=6), st.integers(0, 3)),
)
def test_record_aad_is_injective(a: tuple[str, str, int], b: tuple[str, str, int]) -> None:
    assert (record_aad(*a) == record_aad(*b)) == (a == b)


def test_record_aad_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        record_aad("a", "b", True)
    with pytest.raises(ValueError):
        record_aad("a", "b", -1)
    with pytest.raises(ValueError):
        record_aad("a", "b", 2**32)
    with pytest.raises(TypeError):
        record_aad(b"a", "b", 1)


# --- tampering ---------------------------------------------------------------------------------


def test_every_tampered_byte_fails(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    aad = record_aad("rec-1", "AGB-1", 1)
    sealer.seal(b"first", aad)  # make the counter non-zero
    ciphertext = sealer.seal(SECRET, aad)
    assert open_sealed(sealer.wrapped_key, ciphertext, aad, keks) == SECRET
    for i in range(len(ciphertext)):  # version byte, counter, body and tag
        with pytest.raises(DecryptionFailed):
            open_sealed(sealer.wrapped_key, flip(ciphertext, i), aad, keks)
    for cut in (0, 1, 9, 24, len(ciphertext) - 1):
        with pytest.raises(DecryptionFailed):
            open_sealed(sealer.wrapped_key, ciphertext[:cut], aad, keks)
    with pytest.raises(DecryptionFailed):
        open_sealed(sealer.wrapped_key, ciphertext + b"\x00", aad, keks)


def test_counter_rewritten_to_other_value_fails(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    aad = b"x"
    ciphertext = sealer.seal(SECRET, aad)
    moved = ciphertext[:1] + struct.pack(">Q", 7) + ciphertext[9:]
    with pytest.raises(DecryptionFailed):
        open_sealed(sealer.wrapped_key, moved, aad, keks)


def test_tampered_wrapped_key_fails(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"")
    blob = sealer.wrapped_key.blob
    for i in range(len(blob)):
        with pytest.raises(DecryptionFailed):
            open_sealed(WrappedKey(kek.key_id, flip(blob, i)), ciphertext, b"", keks)
    with pytest.raises(DecryptionFailed):
        open_sealed(WrappedKey(kek.key_id, blob[:-1]), ciphertext, b"", keks)


def test_wrapped_key_bound_to_kek_id(kek: Kek) -> None:
    # The same key bytes filed under another id must not unwrap: the id is in the wrapping aad.
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"")
    alias = Kek("other-id", kek.key)
    relabelled = WrappedKey("other-id", sealer.wrapped_key.blob)
    with pytest.raises(DecryptionFailed):
        open_sealed(relabelled, ciphertext, b"", {"other-id": alias})


def test_wrong_kek_under_right_id_fails(kek: Kek) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"")
    impostor = generate_kek(kek.key_id)
    with pytest.raises(DecryptionFailed):
        open_sealed(sealer.wrapped_key, ciphertext, b"", {kek.key_id: impostor})
    with pytest.raises(DecryptionFailed):
        Unsealer({kek.key_id: impostor}).open(sealer.wrapped_key, ciphertext, b"")


def test_mapping_entry_under_wrong_id_is_rejected(kek: Kek) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"")
    with pytest.raises(ValueError):
        open_sealed(sealer.wrapped_key, ciphertext, b"", {kek.key_id: generate_kek("elsewhere")})


# --- nonces and data keys ----------------------------------------------------------------------


def test_nonces_never_repeat_within_a_sealer(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    aad = record_aad("r", "p", 1)
    ciphertexts = [sealer.seal(SECRET, aad) for _ in range(10_000)]
    counters = [counter_of(c) for c in ciphertexts]
    assert len(set(counters)) == len(counters)
    assert counters == list(range(10_000))
    assert sealer.sealed_count == 10_000
    # same plaintext and aad, yet every ciphertext differs (distinct nonces)
    assert len(set(ciphertexts)) == len(ciphertexts)
    unsealer = Unsealer(keks)
    assert all(unsealer.open(sealer.wrapped_key, c, aad) == SECRET for c in ciphertexts[::997])


def test_two_sealers_use_different_deks(kek: Kek, keks: dict[str, Kek]) -> None:
    a, b = BatchSealer(kek), BatchSealer(kek)
    assert envelope._unwrap(a.wrapped_key, keks) != envelope._unwrap(b.wrapped_key, keks)
    assert a.wrapped_key.blob[:12] != b.wrapped_key.blob[:12]  # random wrapping nonces
    # Both start at counter 0, so same nonce: only distinct DEKs keep the ciphertexts apart.
    assert a.seal(SECRET, b"") != b.seal(SECRET, b"")


def test_counter_overflow_raises(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    sealer._next_counter = 2**64 - 1
    last = sealer.seal(SECRET, b"")
    assert counter_of(last) == 2**64 - 1
    assert open_sealed(sealer.wrapped_key, last, b"", keks) == SECRET
    with pytest.raises(NonceExhausted):
        sealer.seal(SECRET, b"")
    with pytest.raises(NonceExhausted):  # and it stays exhausted
        sealer.seal(SECRET, b"")


def test_sealer_cannot_be_copied_or_pickled(kek: Kek) -> None:
    sealer = BatchSealer(kek)
    with pytest.raises(TypeError):
        copy.copy(sealer)
    with pytest.raises(TypeError):
        copy.deepcopy(sealer)
    with pytest.raises(TypeError):
        pickle.dumps(sealer)


# --- KEK rotation and lookup -------------------------------------------------------------------


def test_rewrap_keeps_payloads_readable_under_new_kek(kek: Kek) -> None:
    keks: dict[str, Kek] = {kek.key_id: kek}
    sealer = BatchSealer(kek)
    rows = [(f"rec-{i}", f"payload {i}".encode()) for i in range(20)]
    sealed = [(rid, sealer.seal(p, record_aad(rid, "AGB-1", 1))) for rid, p in rows]

    new_kek = generate_kek("kek-2025-07")
    keks[new_kek.key_id] = new_kek
    new_wrapped = rewrap(sealer.wrapped_key, keks, new_kek)
    assert new_wrapped.kek_id == new_kek.key_id
    assert new_wrapped.blob != sealer.wrapped_key.blob

    del keks[kek.key_id]  # old KEK retired
    for (rid, plaintext), (_, ciphertext) in zip(rows, sealed, strict=True):
        aad = record_aad(rid, "AGB-1", 1)
        assert open_sealed(new_wrapped, ciphertext, aad, keks) == plaintext
        assert Unsealer(keks).open(new_wrapped, ciphertext, aad) == plaintext
    with pytest.raises(UnknownKek):
        open_sealed(sealer.wrapped_key, sealed[0][1], record_aad("rec-0", "AGB-1", 1), keks)


def test_rewrap_with_unknown_kek(kek: Kek) -> None:
    sealer = BatchSealer(kek)
    with pytest.raises(UnknownKek):
        rewrap(sealer.wrapped_key, {}, generate_kek("new"))


def test_unknown_kek(kek: Kek) -> None:
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"")
    other = generate_kek("someone-else")
    with pytest.raises(UnknownKek) as excinfo:
        open_sealed(sealer.wrapped_key, ciphertext, b"", {other.key_id: other})
    assert excinfo.value.kek_id == kek.key_id
    with pytest.raises(UnknownKek):
        Unsealer({}).open(sealer.wrapped_key, ciphertext, b"")


def test_unsealer_follows_kek_mapping_even_when_cached(kek: Kek) -> None:
    keks: dict[str, Kek] = {kek.key_id: kek}
    sealer = BatchSealer(kek)
    ciphertext = sealer.seal(SECRET, b"")
    unsealer = Unsealer(keks)
    assert unsealer.open(sealer.wrapped_key, ciphertext, b"") == SECRET
    keks[kek.key_id] = generate_kek(kek.key_id)  # a different key under the same id
    with pytest.raises(DecryptionFailed):
        unsealer.open(sealer.wrapped_key, ciphertext, b"")
    del keks[kek.key_id]
    with pytest.raises(UnknownKek):
        unsealer.open(sealer.wrapped_key, ciphertext, b"")


# --- unwrap cache ------------------------------------------------------------------------------


def test_unsealer_unwraps_once_per_batch(kek: Kek, keks: dict[str, Kek]) -> None:
    batches, per_batch = 100, 1_000  # 100k records
    sealers = [BatchSealer(kek) for _ in range(batches)]
    aad = record_aad("r", "p", 1)
    # one payload per batch, opened per_batch times in interleaved order (worst case for LRU)
    sealed = [(s.wrapped_key, s.seal(b"%d" % i, aad)) for i, s in enumerate(sealers)]
    unsealer = Unsealer(keks)
    opened = 0
    for _ in range(per_batch):
        for i, (wrapped, ciphertext) in enumerate(sealed):
            assert unsealer.open(wrapped, ciphertext, aad) == b"%d" % i
            opened += 1
    assert opened == 100_000
    assert unsealer.unwrap_count == batches


def test_unsealer_cache_is_bounded(kek: Kek, keks: dict[str, Kek]) -> None:
    sealers = [BatchSealer(kek) for _ in range(3)]
    sealed = [(s.wrapped_key, s.seal(SECRET, b"")) for s in sealers]
    unsealer = Unsealer(keks, cache_size=2)
    for _ in range(2):
        for wrapped, ciphertext in sealed:
            unsealer.open(wrapped, ciphertext, b"")
    assert unsealer.unwrap_count == 6  # cyclic access over 3 batches with room for 2
    unsealer.clear()
    unsealer.open(*sealed[0], b"")
    assert unsealer.unwrap_count == 7


# --- nothing readable at rest ------------------------------------------------------------------


def test_byte_scan_plaintext_and_keys_absent_from_stored_bytes(kek: Kek, keks: dict[str, Kek]) -> None:
    sealer = BatchSealer(kek)
    record_id, provider = "rec-42", "AGB-12345678"
    stored = [sealer.seal(SECRET * k, record_aad(record_id, provider, 1)) for k in range(1, 50)]
    wrapped = sealer.wrapped_key
    dek = envelope._unwrap(wrapped, keks)
    at_rest = b"".join(stored) + wrapped.blob + wrapped.kek_id.encode()
    for needle in (SECRET, b"mark=8", b"2025-03-31", record_id.encode(), provider.encode(), dek, kek.key):
        assert needle not in at_rest
    for c in stored:
        assert SECRET not in c
    # and nothing secret leaks through repr
    assert kek.key.hex() not in repr(kek) and repr(kek.key) not in repr(kek)
    assert dek.hex() not in repr(sealer) and repr(dek) not in repr(sealer)


# --- input validation --------------------------------------------------------------------------


def test_kek_validation() -> None:
    with pytest.raises(ValueError):
        Kek("k", b"\x00" * 16)
    with pytest.raises(ValueError):
        Kek("", b"\x00" * 32)
    with pytest.raises(TypeError):
        Kek("k", "x" * 32)
    assert generate_kek("a").key != generate_kek("a").key
