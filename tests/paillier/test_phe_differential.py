"""Differential tests against python-paillier (phe) under the same key (skipped without phe)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heprim.errors import EncodingOverflowError
from heprim.paillier.encoding import EncodedNumber
from heprim.paillier.keys import PrivateKey, PublicKey
from heprim.paillier.number import EncryptedNumber

phe = pytest.importorskip("phe")
paillier = pytest.importorskip("phe.paillier")

Keys = tuple[PublicKey, PrivateKey]
values = st.one_of(
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or abs(x) > 1e-200),
)


@pytest.fixture(scope="module")
def phe_keys(keys1024: Keys) -> tuple[object, object]:
    _, sk = keys1024
    pub = paillier.PaillierPublicKey(int(sk.public_key.n))
    return pub, paillier.PaillierPrivateKey(pub, int(sk.p), int(sk.q))


@given(value=values)
def test_phe_decrypts_ours(keys1024: Keys, phe_keys: tuple[object, object], value: float) -> None:
    pk, sk = keys1024
    pub, priv = phe_keys
    for ours in (pk.encrypt(value), sk.encrypt(value), pk.encrypt(value, mode="standard")):
        theirs = paillier.EncryptedNumber(pub, int(ours.ciphertext), ours.exponent)
        assert priv.decrypt(theirs) == value


@given(value=values)
def test_we_decrypt_phe(keys1024: Keys, phe_keys: tuple[object, object], value: float) -> None:
    pk, sk = keys1024
    pub, _ = phe_keys
    theirs = pub.encrypt(value)  # type: ignore[attr-defined]
    ours = EncryptedNumber(pk, theirs.ciphertext(), theirs.exponent)
    assert sk.decrypt(ours) == value


@given(
    value=values,
    precision=st.one_of(st.none(), st.floats(min_value=1e-12, max_value=1e6)),
    max_exponent=st.one_of(st.none(), st.integers(-40, 5)),
)
def test_encodings_agree(
    keys1024: Keys,
    phe_keys: tuple[object, object],
    value: float,
    precision: float | None,
    max_exponent: int | None,
) -> None:
    pk, _ = keys1024
    pub, _ = phe_keys
    try:
        theirs = phe.EncodedNumber.encode(pub, value, precision, max_exponent)
    except ValueError:  # phe refuses (out of range): so must we, but for phe's max_int + 1
        try:
            ours = EncodedNumber.encode(pk, value, precision, max_exponent)
        except EncodingOverflowError:
            return
        assert ours.encoding in (pk.max_int, pk.n - pk.max_int)  # our max_int is n // 3
        return
    ours = EncodedNumber.encode(pk, value, precision, max_exponent)
    assert (ours.encoding, ours.exponent) == (theirs.encoding, theirs.exponent)
    assert ours.decode() == theirs.decode()


moderate = st.one_of(
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(min_value=-1e30, max_value=1e30).filter(lambda x: x == 0 or abs(x) > 1e-30),
)


@given(a=moderate, b=moderate, k=st.integers(-(2**40), 2**40))
def test_homomorphic_results_agree(
    keys1024: Keys, phe_keys: tuple[object, object], a: float, b: float, k: int
) -> None:
    pk, sk = keys1024
    pub, priv = phe_keys
    ea, eb = pk.encrypt(a), pk.encrypt(b)
    pa, pb = pub.encrypt(a), pub.encrypt(b)  # type: ignore[attr-defined]
    for ours, theirs in (((ea + eb), (pa + pb)), ((ea * k), (pa * k)), ((ea - b), (pa - b))):
        assert sk.decrypt(ours) == priv.decrypt(theirs)  # type: ignore[attr-defined]
        assert ours.exponent == theirs.exponent
