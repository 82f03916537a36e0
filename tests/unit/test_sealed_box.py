import pytest

from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, SealedBoxError, decode_key, new_key


def box(key_id: str = "k1") -> SealedBox:
    return SealedBox(bytes(range(32)), key_id)


def test_seal_and_open_round_trip_and_each_seal_differs() -> None:
    a, b = box().seal(b"secret", b"ctx"), box().seal(b"secret", b"ctx")
    assert a != b
    assert box().open(a, b"ctx") == b"secret"
    assert b"secret" not in a.encode()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],
        lambda s: s.replace("v1.", "v2.", 1),
        lambda s: s.replace(".k1.", ".k2.", 1),
        lambda s: "garbage",
        lambda s: "v1.k1.!!!",
        lambda s: "v1.k1.AAAA",
    ],
)
def test_tampered_values_do_not_open(tamper: object) -> None:
    sealed = box().seal(b"secret", b"ctx")
    with pytest.raises(SealedBoxError):
        box().open(tamper(sealed), b"ctx")  # type: ignore[operator]


def test_wrong_context_or_key_does_not_open() -> None:
    sealed = box().seal(b"secret", b"ctx")
    with pytest.raises(SealedBoxError):
        box().open(sealed, b"other")
    with pytest.raises(SealedBoxError):
        SealedBox(bytes(32)).open(sealed, b"ctx")


def test_keys_are_validated() -> None:
    assert len(decode_key(new_key())) == 32
    with pytest.raises(ValueError, match="32 bytes"):
        decode_key("c2hvcnQ=")
    with pytest.raises(ValueError):
        SealedBox(b"short")


def test_card_token_is_bound_to_its_transaction() -> None:
    vault = CardVault(box(), KeyedHasher(b"f" * 32))
    token = vault.tokenize("4242424242424242", "tx-1")
    assert "4242" not in token
    assert vault.reveal(token, "tx-1") == "4242424242424242"
    with pytest.raises(SealedBoxError):
        vault.reveal(token, "tx-2")


def test_fingerprint_is_stable_keyed_and_opaque() -> None:
    a = CardVault(box(), KeyedHasher(b"f" * 32))
    b = CardVault(box(), KeyedHasher(b"g" * 32))
    assert a.fingerprint("4242424242424242") == a.fingerprint("4242424242424242")
    assert a.fingerprint("4242424242424242") != b.fingerprint("4242424242424242")
    assert a.fingerprint("4242424242424242") != a.fingerprint("5555555555554444")
    assert "4242" not in a.fingerprint("4242424242424242")
