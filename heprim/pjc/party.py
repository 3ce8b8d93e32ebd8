"""The two parties of private intersection-sum-with-cardinality as sans-I/O state machines.

The protocol is the deployed one of Ion, Kreuter, Nergiz, Patel, Saxena, Seth, Raykova, Shanahan
and Yung, "On Deploying Secure Computing: Private Intersection-Sum-with-Cardinality" (EuroS&P
2020), section 3.2, figure 2 (the DDH-based protocol with additively homomorphic encryption),
with one change of who learns the sum:

* :class:`IdentifierParty` ("A", the paper's ``P1``) holds identifiers ``V``. It learns
  ``|V n W|`` and the sum of B's values over the intersection.
* :class:`ValueParty` ("B", ``P2``) holds rows ``(w, t)``. It owns the Paillier key and learns
  ``|V n W|`` only.

In the paper ``P2``, who holds the key, learns the sum. Here A must learn it but must never be
able to decrypt B's individual values, so the key stays with B and A asks B to decrypt the sum
under a one-time pad: A sends ``Enc(S + r)`` with ``r`` uniform in ``Z_n`` and a fresh encryption
randomness, B returns ``S + r mod n`` (uniform, whatever ``S`` is) and A removes ``r``. The rounds:

0. (B, offline) rows ``(H(w)**b, Enc(t))`` for a fresh exponent ``b``, shuffled.
1. A -> B: ``{H(v)**a}`` shuffled, for a fresh exponent ``a``.
2. B -> A: ``{H(v)**(ab)}`` shuffled (so A cannot tell *which* of its identifiers matched), and
   B's rows from round 0 with the public key.
3. A computes ``(H(w)**b)**a`` for each row; a row is in the intersection iff that value is among
   the ``H(v)**(ab)``. A multiplies the ciphertexts of those rows (``prod Enc(t_j) = Enc(S)``),
   multiplies in ``Enc(r)`` with fresh randomness (which also re-randomises the product, so B
   cannot tell which rows were chosen) and sends it with the size ``|J|``. A -> B.
4. B checks the size is possible, decrypts once and returns ``S + r mod n``. B -> A.

Semantics, fixed and documented (see ``docs/pjc_explained.md``):

* identifiers are ``str`` (compared as their UTF-8 bytes) or ``bytes``, exactly, with no
  normalisation (the CSV reader strips surrounding spaces);
* A's duplicate identifiers collapse to one (a set);
* B's duplicate identifiers are an error unless ``duplicates="sum"``, which adds their values;
* values are integers (any size for one column; a bounded signed range for several packed
  columns), standing for ``value / 10**decimals`` (``decimals`` per column, public).

Both parties are sans-I/O (h11 style, as :mod:`heprim.secagg`): :meth:`start` returns the first
messages to send, :meth:`handle` takes one message and returns the replies. A message that does
not fit the stage, session, or the mathematics (a point off the curve, a count that cannot be,
an invalid ciphertext) raises :class:`~heprim.errors.ProtocolError` and leaves the state
unchanged; a refusal by policy (wrong group, no values to sum, an intersection below the agreed
minimum) is an :class:`~heprim.pjc.messages.Abort` sent to the peer.

Security: semi-honest (honest-but-curious) parties, as in Ion et al.; see the docs for what each
party sees and what a malicious party could do instead.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Final, Literal

import numpy as np

from heprim.errors import (
    EncodingOverflowError,
    InsecureParametersWarning,
    ParameterError,
    ProtocolError,
)
from heprim.math.prng import PRNG, default_rng
from heprim.paillier.keys import (
    DEFAULT_N_BITS,
    MIN_SECURE_N_BITS,
    PrivateKey,
    PublicKey,
    generate_keypair,
)
from heprim.paillier.packing import MAX_SLOT_WIDTH, PackedEncoder
from heprim.paillier.vector import raw_encrypt_many
from heprim.pjc.cost import CostLedger
from heprim.pjc.group import DEFAULT_GROUP, Group, GroupKey, get_group
from heprim.pjc.messages import (
    MAX_DECIMALS,
    SESSION_BYTES,
    Abort,
    Hello,
    Layout,
    MaskedSum,
    Message,
    Reply,
    Revealed,
    Round,
    ValueLayout,
)

__all__ = [
    "Duplicates",
    "IdentifierParty",
    "PJCResult",
    "Stage",
    "ValueParty",
    "normalise_identifier",
    "shuffle",
]

Progress = Callable[[int, int], None] | None
Duplicates = Literal["error", "sum"]

_NO_SESSION: Final = bytes(SESSION_BYTES)  # an abort sent before the session id is known


class Stage(Enum):
    """Where a party is: what it does or waits for next."""

    START = "not started"
    AWAIT_HELLO = "await hello"
    AWAIT_REPLY = "await reply"
    AWAIT_MASKED_SUM = "await masked sum"
    AWAIT_REVEAL = "await revealed sum"
    DONE = "done"
    ABORTED = "aborted"


@dataclass(frozen=True)
class PJCResult:
    """What one party learned.

    Attributes:
        size: the intersection cardinality ``|V n W|`` (both parties learn it).
        sums: A only: for each value column, the sum of B's values over the intersection, as
            integers scaled by ``10**decimals``; ``None`` for B and in the size-only variant.
        decimals: the fixed-point scale of each of ``sums``.
    """

    size: int
    sums: tuple[int, ...] | None = None
    decimals: tuple[int, ...] = ()

    @property
    def sum(self) -> int | None:
        """The sum of the single value column (scaled), or ``None``."""
        if self.sums is None:
            return None
        if len(self.sums) != 1:
            raise ParameterError(f"there are {len(self.sums)} value columns; read .sums")
        return self.sums[0]

    @property
    def decimal_sums(self) -> tuple[Decimal, ...] | None:
        """The sums as exact decimals: ``sums[i] / 10**decimals``."""
        if self.sums is None:
            return None
        places = self.decimals or (0,) * len(self.sums)
        return tuple(Decimal(s).scaleb(-d) for s, d in zip(self.sums, places, strict=True))


# --------------------------------------------------------------------------------- helpers


def normalise_identifier(identifier: object) -> bytes:
    """An identifier as the bytes that are hashed: UTF-8 for ``str``, as is for ``bytes``."""
    if isinstance(identifier, str):
        return identifier.encode("utf-8")
    if isinstance(identifier, bytes | bytearray | memoryview):
        return bytes(identifier)
    raise ParameterError(
        f"identifiers are str or bytes, got {type(identifier).__name__}; convert numbers "
        "explicitly (str(x)) so that '007' and '7' are not silently merged"
    )


def shuffle(items: list[Any], rng: PRNG) -> list[Any]:
    """Shuffle in place with Fisher-Yates (Knuth, TAOCP vol. 2, algorithm 3.4.2 P); return it.

    Every permutation is equally likely: each swap index comes from ``rng.randbelow`` (rejection
    sampling, no modulo bias).
    """
    for i in range(len(items) - 1, 0, -1):
        j = rng.randbelow(i + 1)
        items[i], items[j] = items[j], items[i]
    return items


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(
            f"{what} must be an integer, got {value!r}; scale fixed-point values to integers "
            "and give decimals= (e.g. 12.34 with decimals=2 is 1234)"
        )
    return int(value)


def _decimals(decimals: object, columns: int) -> tuple[int, ...]:
    """``decimals`` (one int for all columns, or one per column) as a tuple per column."""
    if isinstance(decimals, Sequence) and not isinstance(decimals, str | bytes):
        places = tuple(_integer(d, "decimals") for d in decimals)
        if len(places) != columns:
            raise ParameterError(f"{len(places)} decimals given for {columns} value columns")
    else:
        places = (_integer(decimals, "decimals"),) * columns
    for d in places:
        if not 0 <= d <= MAX_DECIMALS:
            raise ParameterError(f"decimals must be in [0, {MAX_DECIMALS}], got {d}")
    return places


def _envelope(party: str, session: bytes | None, message: object) -> None:
    if not isinstance(message, Message):
        raise ProtocolError(f"{party} got {type(message).__name__}, not a protocol message")
    if (
        session is not None
        and message.session != session
        and not (isinstance(message, Abort) and message.session == _NO_SESSION)
    ):
        raise ProtocolError(f"{party} got a message of another session (session id mismatch)")


def _paillier_width(n: int) -> int:
    return (int(n).bit_length() + 7) // 8


def _per_row(layout: ValueLayout, public_key: PublicKey) -> int:
    if layout.kind is Layout.NONE:
        return 0
    if layout.kind is Layout.INTEGER:
        return 1
    return _packer(layout, public_key).ciphertexts_for(layout.columns)


def _packer(layout: ValueLayout, public_key: PublicKey) -> PackedEncoder:
    return PackedEncoder(
        public_key, layout.slot_bits, max_additions=layout.max_additions, signed=True
    )


class _Party:
    """What both parties share: the stage, the local abort and the checks every message passes."""

    NAME: ClassVar[str]
    stage: Stage
    cost: CostLedger
    abort_reason: str | None
    _session: bytes | None

    @property
    def finished(self) -> bool:
        """Whether the session is over (done or aborted)."""
        return self.stage in (Stage.DONE, Stage.ABORTED)

    def abort(self, reason: str) -> Abort:
        """End the session locally (e.g. the driver failed) and return the Abort to send."""
        self.stage, self.abort_reason = Stage.ABORTED, reason
        return Abort(self._session or _NO_SESSION, reason)

    def _check_live(self, message: Message) -> None:
        if self.finished:
            raise ProtocolError(
                f"{self.NAME} got a {type(message).__name__} after the session ended "
                f"({self.stage.value}): replayed or late"
            )

    def _admit(self, message: Message, round_: Round, expected: type[Message]) -> bool:
        """Whether to process ``message``: not an abort from the peer, which ends the session;
        :class:`ProtocolError` for anything but ``expected``."""
        if isinstance(message, Abort):
            self.cost.received(message, round_)
            self.stage, self.abort_reason = Stage.ABORTED, message.reason
            return False
        if not isinstance(message, expected):
            raise ProtocolError(
                f"{self.NAME} expected {expected.__name__} ({self.stage.value}) but got "
                f"{type(message).__name__}: out of order or replayed"
            )
        return True

    def _charge(self, message: Message, replies: list[Message], round_: Round) -> list[Message]:
        """Charge a processed message and its replies to ``round_``; return the replies."""
        self.cost.received(message, round_)
        self.cost.sent(replies, round_)
        return replies


# --------------------------------------------------------------------------------- party A


class IdentifierParty(_Party):
    """Party A: holds identifiers only; learns the intersection size and the sum of B's values.

    Args:
        identifiers: ``str`` or ``bytes`` identifiers; duplicates collapse to one.
        want_sum: ask for the sum of B's values (``True``) or only the intersection size.
        group: ``"x25519"`` (default) or ``"modp2048"``: must match B's.
        allow_insecure: accept a Paillier key from B below 2048 bits (tests only; warns).
        rng: randomness for the session id, the exponent, the shuffle and the mask.

    Usage: send what :meth:`start` returns; feed every message from B to :meth:`handle` and
    send what it returns; :attr:`result` is set at :attr:`Stage.DONE`.
    """

    NAME: ClassVar[str] = "party A"

    def __init__(
        self,
        identifiers: Iterable[str | bytes],
        *,
        want_sum: bool = True,
        group: str | Group = DEFAULT_GROUP,
        allow_insecure: bool = False,
        rng: PRNG | None = None,
    ) -> None:
        if isinstance(identifiers, str | bytes):
            raise ParameterError("identifiers is a collection of identifiers, not one string")
        if not isinstance(want_sum, bool):
            raise ParameterError(f"want_sum must be True or False, got {want_sum!r}")
        items = [normalise_identifier(x) for x in identifiers]
        unique = list(dict.fromkeys(items))
        self.group = get_group(group)
        self.want_sum = want_sum
        self.allow_insecure = bool(allow_insecure)
        self.stage = Stage.START
        self.cost = CostLedger()
        self.result: PJCResult | None = None
        self.size: int | None = None
        self.abort_reason: str | None = None
        self.duplicates_removed = len(items) - len(unique)
        self._identifiers = unique
        self._rng = default_rng(rng)
        self._session: bytes | None = None
        self._key: GroupKey | None = None
        self._sent = 0
        self._public_key: PublicKey | None = None
        self._layout = ValueLayout()
        self._masks: list[int] = []

    def __repr__(self) -> str:
        return (
            f"IdentifierParty({len(self._identifiers)} identifiers, group={self.group.name!r}, "
            f"stage={self.stage.value!r})"
        )

    @property
    def session(self) -> bytes | None:
        """The session id (drawn by :meth:`start`)."""
        return self._session

    @property
    def peer_public_key(self) -> PublicKey | None:
        """Party B's Paillier public key, once its reply arrived (``None`` for the size only)."""
        return self._public_key

    # ---------------------------------------------------------------------------- round 1
    def start(self, *, progress: Progress = None) -> list[Message]:
        """Round 1: blind every identifier as ``H(v)**a``, shuffle, and return the Hello."""
        if self.stage is not Stage.START:
            raise ProtocolError("start() was already called: a party runs one session")
        with self.cost.timing(Round.BLIND):
            session = self._rng.random_bytes(SESSION_BYTES)
            key = self.group.generate_key(self._rng)
            blinded = shuffle(
                key.hash_and_exponentiate(self._identifiers, progress=progress), self._rng
            )
            hello = Hello(session, self.group.code, self.want_sum, tuple(blinded))
        self._session, self._key, self._sent = session, key, len(blinded)
        self.stage = Stage.AWAIT_REPLY
        self.cost.sent([hello], Round.BLIND)
        return [hello]

    # ---------------------------------------------------------------------------- dispatch
    def handle(self, message: Message, *, progress: Progress = None) -> list[Message]:
        """Process one message from B; return the messages to send back."""
        self._check_live(message)
        if self.stage is Stage.START:
            raise ProtocolError("party A must start() the session before receiving messages")
        _envelope(self.NAME, self._session, message)
        # Work is charged to the round of the message it produces (the Revealed sum: REVEAL).
        round_ = Round.SUM if self.stage is Stage.AWAIT_REPLY else Round.REVEAL
        expected = Reply if self.stage is Stage.AWAIT_REPLY else Revealed
        if not self._admit(message, round_, expected):
            return []
        with self.cost.timing(round_):
            if isinstance(message, Reply):
                replies = self._on_reply(message, progress)
            elif isinstance(message, Revealed):
                replies = self._on_revealed(message)
            else:  # pragma: no cover - excluded by the stage check above
                raise ProtocolError(f"unexpected {type(message).__name__}")
        return self._charge(message, replies, round_)

    # ---------------------------------------------------------------------------- round 2 -> 3
    def _check_public_key(self, modulus: int) -> PublicKey:
        bits = int(modulus).bit_length()
        if bits < MIN_SECURE_N_BITS and not self.allow_insecure:
            raise ProtocolError(
                f"party B's Paillier key has {bits} bits, below the {MIN_SECURE_N_BITS}-bit "
                "minimum; refuse it (allow_insecure=True is for tests only)"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureParametersWarning)
                key = PublicKey(modulus)
        except ParameterError as exc:
            raise ProtocolError(f"party B's Paillier key is invalid: {exc}") from None
        if bits < MIN_SECURE_N_BITS:
            warnings.warn(
                f"party B's Paillier key has {bits} bits: insecure (accepted with "
                "allow_insecure=True)",
                InsecureParametersWarning,
                stacklevel=4,
            )
        return key

    def _on_reply(self, m: Reply, progress: Progress) -> list[Message]:
        key, session = self._key, self._session
        if key is None or session is None:  # pragma: no cover - guarded by the stage
            raise ProtocolError("party A has no session")
        if m.group != self.group.code:
            raise ProtocolError(f"party B answered in group {m.group}, not {self.group.name}")
        layout = m.layout
        if (layout.kind is Layout.NONE) == self.want_sum:
            raise ProtocolError(
                "party B's reply does not match what A asked for "
                f"({'the sum' if self.want_sum else 'the size only'})"
            )
        if len(m.doubled) != self._sent:
            raise ProtocolError(
                f"party B returned {len(m.doubled)} doubly blinded identifiers for the "
                f"{self._sent} A sent"
            )
        if len(set(m.doubled)) != len(m.doubled) or len(set(m.rows)) != len(m.rows):
            raise ProtocolError("party B's reply repeats a blinded identifier")
        for i, element in enumerate(m.doubled):
            try:
                self.group.check_element(element)
            except ParameterError as exc:
                raise ProtocolError(f"doubly blinded identifier {i} is invalid: {exc}") from None
        public_key: PublicKey | None = None
        if layout.kind is not Layout.NONE:
            public_key = self._check_public_key(m.modulus)
            if layout.max_additions and layout.max_additions < len(m.rows):
                raise ProtocolError("the packing headroom is smaller than party B's row count")
            try:
                expected_k = _per_row(layout, public_key)
            except ParameterError as exc:
                raise ProtocolError(f"party B's value layout is invalid: {exc}") from None
            if m.per_row != expected_k:
                raise ProtocolError(
                    f"party B sent {m.per_row} ciphertexts per row; its layout needs {expected_k}"
                )
            for j, c in enumerate(m.ciphertexts):
                try:
                    public_key.check_ciphertext(c)
                except ParameterError as exc:
                    raise ProtocolError(f"ciphertext {j} of party B is invalid: {exc}") from None
        try:
            blinded_rows = key.exponentiate_many(m.rows, progress=progress)
        except ParameterError as exc:
            raise ProtocolError(f"a blinded row identifier of party B is invalid: {exc}") from None
        targets = set(m.doubled)
        matches = [j for j, t in enumerate(blinded_rows) if t in targets]
        size = len(matches)
        self.size, self._layout, self._public_key = size, layout, public_key
        if public_key is None:
            self.result = PJCResult(size)
            self.stage = Stage.DONE
            return [MaskedSum(session, size, 0, ())]
        k, nsq, n = m.per_row, public_key.nsquare, public_key.n
        sums = [1] * k
        for j in matches:
            for i in range(k):
                sums[i] = sums[i] * m.ciphertexts[j * k + i] % nsq
        # The mask is a one-time pad in Z_n; its fresh textbook randomness r'**n re-randomises the
        # product, so B sees a uniformly random encryption of a uniformly random plaintext.
        self._masks = [self._rng.randbelow(int(n)) for _ in range(k)]
        masked = tuple(
            s * public_key.raw_encrypt(r, rng=self._rng, mode="standard") % nsq
            for s, r in zip(sums, self._masks, strict=True)
        )
        self.stage = Stage.AWAIT_REVEAL
        return [MaskedSum(session, size, 2 * _paillier_width(n), masked)]

    # ---------------------------------------------------------------------------- round 4
    def _on_revealed(self, m: Revealed) -> list[Message]:
        public_key, layout, size = self._public_key, self._layout, self.size
        if public_key is None or size is None:  # pragma: no cover - guarded by the stage
            raise ProtocolError("party A has no key")
        n = public_key.n
        if len(m.plaintexts) != len(self._masks) or m.width != _paillier_width(n):
            raise ProtocolError("party B revealed the wrong number or width of sums")
        if any(not 0 <= v < n for v in m.plaintexts):
            raise ProtocolError("a revealed value is not below n")
        plain = [(v - r) % n for v, r in zip(m.plaintexts, self._masks, strict=True)]
        if size == 0 and any(plain):
            raise ProtocolError("party B's decryption is inconsistent: an empty sum is not zero")
        if layout.kind is Layout.INTEGER:
            total = int(plain[0])
            sums: tuple[int, ...] = (total - int(n) if total > n // 2 else total,)
        elif size == 0:
            sums = (0,) * layout.columns
        else:
            try:
                decoded = _packer(layout, public_key).decode(plain, layout.columns, count=size)
            except (EncodingOverflowError, ParameterError) as exc:
                raise ProtocolError(f"party B's decryption does not unpack: {exc}") from None
            sums = tuple(int(x) for x in decoded)
        self.result = PJCResult(size, sums, layout.decimals)
        self._masks = []
        self.stage = Stage.DONE
        return []


# --------------------------------------------------------------------------------- party B


def _aggregate(
    identifiers: list[bytes], values: list[Any] | None, duplicates: Duplicates
) -> tuple[list[bytes], list[Any] | None]:
    """Merge duplicate identifiers according to ``duplicates`` (values add up column-wise)."""
    index: dict[bytes, int] = {}
    ids: list[bytes] = []
    merged: list[Any] | None = [] if values is not None else None
    for position, identifier in enumerate(identifiers):
        seen = index.get(identifier)
        if seen is None:
            index[identifier] = len(ids)
            ids.append(identifier)
            if merged is not None and values is not None:
                merged.append(values[position])
            continue
        if duplicates == "error":
            raise ParameterError(
                f"identifier {identifier!r} appears more than once (rows {seen} and {position}); "
                "deduplicate the rows, or pass duplicates='sum' to add their values"
            )
        if merged is not None and values is not None:
            old, new = merged[seen], values[position]
            merged[seen] = (
                old + new
                if isinstance(old, int)
                else [a + b for a, b in zip(old, new, strict=True)]
            )
    return ids, merged


class ValueParty(_Party):
    """Party B: holds (identifier, values) rows and the Paillier key; learns the size only.

    Args:
        identifiers: ``str`` or ``bytes`` row identifiers.
        values: ``None`` (size only); a 1-D sequence of integers, one per row, of any size (one
            column, one ciphertext per row); or a 2-D array ``rows x columns`` of integers
            packed several per ciphertext (BatchCrypt layout of
            :class:`~heprim.paillier.packing.PackedEncoder`).
        group: ``"x25519"`` (default) or ``"modp2048"``: must match A's.
        private_key: B's Paillier key; by default a fresh ``key_bits`` key is generated in
            :meth:`prepare`.
        key_bits: size of the generated key (default 3072, ~128-bit security).
        value_bits: packed columns only: signed bits per value; default the most a 64-bit slot
            holds with headroom for summing every row (``63 - ceil(log2 rows)``).
        decimals: the values are integers standing for ``value / 10**decimals`` (public): one
            number for every column, or one per column.
        duplicates: ``"error"`` (default) or ``"sum"`` for repeated identifiers.
        min_intersection: refuse to decrypt a sum over fewer rows than this (a sum over one row
            is that row's value); A then learns the size but no sum.
        allow_insecure: accept a key below 2048 bits (tests only; warns).
        workers: threads or processes for the Paillier encryption of the rows.
        rng: randomness for keys, the shuffle and encryption.
    """

    NAME: ClassVar[str] = "party B"

    def __init__(
        self,
        identifiers: Iterable[str | bytes],
        values: Sequence[int] | Sequence[Sequence[int]] | np.ndarray[Any, Any] | None = None,
        *,
        group: str | Group = DEFAULT_GROUP,
        private_key: PrivateKey | None = None,
        key_bits: int = DEFAULT_N_BITS,
        value_bits: int | None = None,
        decimals: int | Sequence[int] = 0,
        duplicates: Duplicates = "error",
        min_intersection: int = 0,
        allow_insecure: bool = False,
        workers: int = 1,
        rng: PRNG | None = None,
    ) -> None:
        if isinstance(identifiers, str | bytes):
            raise ParameterError("identifiers is a collection of identifiers, not one string")
        if duplicates not in ("error", "sum"):
            raise ParameterError(f"duplicates must be 'error' or 'sum', got {duplicates!r}")
        ids = [normalise_identifier(x) for x in identifiers]
        kind, columns, rows = self._check_values(values, len(ids))
        ids, rows = _aggregate(ids, rows, duplicates)
        places = _decimals(decimals, columns)
        self.min_intersection = _integer(min_intersection, "min_intersection")
        if self.min_intersection < 0:
            raise ParameterError("min_intersection must be non-negative")
        if private_key is not None and not isinstance(private_key, PrivateKey):
            raise ParameterError(
                f"private_key must be a heprim PrivateKey, got {type(private_key).__name__}"
            )
        if private_key is not None and private_key.public_key.n_bits < MIN_SECURE_N_BITS:
            if not allow_insecure:
                raise ParameterError(
                    f"the Paillier key has {private_key.public_key.n_bits} bits, below "
                    f"{MIN_SECURE_N_BITS}; pass allow_insecure=True for tests"
                )
            warnings.warn(
                "this Paillier key is insecure (fine for tests only)",
                InsecureParametersWarning,
                stacklevel=2,
            )
        self.group = get_group(group)
        self.stage = Stage.AWAIT_HELLO
        self.cost = CostLedger()
        self.result: PJCResult | None = None
        self.size: int | None = None
        self.abort_reason: str | None = None
        self.allow_insecure = bool(allow_insecure)
        self.workers = _integer(workers, "workers")
        self._identifiers = ids
        self._rows = rows
        self._kind = kind
        self._columns = columns
        self._decimals = places
        self._key_bits = _integer(key_bits, "key_bits")
        self._value_bits = None if value_bits is None else _integer(value_bits, "value_bits")
        self._private_key = private_key
        self._rng = default_rng(rng)
        self._session: bytes | None = None
        self._group_key: GroupKey | None = None
        self._layout: ValueLayout | None = None
        self._prepared: tuple[tuple[bytes, ...], tuple[int, ...], int] | None = None
        self._want_sum = False
        self._a_count = 0

    @staticmethod
    def _check_values(values: Any, count: int) -> tuple[Layout, int, list[Any] | None]:
        """``(layout kind, columns, per-row values)`` of the ``values`` argument."""
        if values is None:
            return Layout.NONE, 0, None
        if isinstance(values, str | bytes):
            raise ParameterError("values must be integers (one per row) or rows of integers")
        arr = np.asarray(values, dtype=object)
        if arr.ndim == 1 and not any(isinstance(v, Sequence | np.ndarray) for v in arr):
            if arr.shape[0] != count:
                raise ParameterError(f"{count} identifiers but {arr.shape[0]} values")
            return Layout.INTEGER, 1, [_integer(v, f"value {i}") for i, v in enumerate(arr)]
        if arr.ndim == 2:
            rows, columns = arr.shape
            if rows != count:
                raise ParameterError(f"{count} identifiers but {rows} rows of values")
            if columns < 1:
                raise ParameterError("a 2-D array of values needs at least one column")
            packed = [
                [_integer(v, f"value [{i}, {c}]") for c, v in enumerate(row)]
                for i, row in enumerate(arr)
            ]
            return Layout.PACKED, int(columns), packed
        raise ParameterError(
            "values must be 1-D (one integer per row) or 2-D (rows x columns, every row of "
            f"the same length), got an array of shape {arr.shape}"
        )

    def __repr__(self) -> str:
        return (
            f"ValueParty({len(self._identifiers)} rows, group={self.group.name!r}, "
            f"stage={self.stage.value!r})"
        )

    @property
    def private_key(self) -> PrivateKey | None:
        """B's Paillier key (generated by :meth:`prepare` unless one was given)."""
        return self._private_key

    @property
    def layout(self) -> ValueLayout | None:
        """The public description of the values (set by :meth:`prepare`)."""
        return self._layout

    # ---------------------------------------------------------------------------- round 0
    def prepare(self, *, progress: Progress = None) -> None:
        """Round 0 (offline): generate the keys, blind and encrypt the rows, shuffle them.

        Idempotent. :meth:`handle` calls it on the Hello if it was not called before; drivers
        call it early so that it overlaps with A's first round.
        """
        if self._prepared is not None:
            return
        with self.cost.timing(Round.PREPARE):
            self._prepare(progress)

    def _make_layout(self, public_key: PublicKey | None) -> ValueLayout:
        rows = self._rows
        if rows is None or public_key is None:
            return ValueLayout()
        if self._kind is Layout.INTEGER:
            return ValueLayout(Layout.INTEGER, 1, self._decimals)
        columns = self._columns
        additions = max(len(rows), 1)
        headroom = (additions - 1).bit_length()
        bits = self._value_bits
        if bits is None:
            bits = MAX_SLOT_WIDTH - 1 - headroom
        if bits < 2:
            raise ParameterError(
                f"{len(rows)} rows leave no room for packed values in a 64-bit slot; use the "
                "single-column layout"
            )
        return ValueLayout(Layout.PACKED, columns, self._decimals, bits, additions)

    def _plaintexts(self, layout: ValueLayout, public_key: PublicKey) -> list[int]:
        rows = self._rows
        if rows is None:  # pragma: no cover - guarded by the layout
            return []
        n = public_key.n
        if layout.kind is Layout.INTEGER:
            # Any subset sum stays in (-n/2, n/2] when the absolute values sum below n/2.
            if sum(abs(v) for v in rows) >= n // 2:
                raise EncodingOverflowError(
                    f"the absolute values sum to more than n/2 for this {public_key.n_bits}-bit "
                    "key, so a sum could wrap modulo n; use a larger key"
                )
            return [v % n for v in rows]
        packer = _packer(layout, public_key)
        lo, hi = packer.min_value, packer.max_value
        plaintexts: list[int] = []
        for i, row in enumerate(rows):
            for c, v in enumerate(row):
                if not lo <= v <= hi:
                    raise EncodingOverflowError(
                        f"value {v} (row {i}, column {c}) is outside the {layout.slot_bits}-bit "
                        f"packed range [{lo}, {hi}]; give value_bits= or use one column per run"
                    )
            plaintexts.extend(packer.encode(np.asarray(row, dtype=np.int64)))
        return plaintexts

    def _prepare(self, progress: Progress) -> None:
        rng = self._rng
        public_key: PublicKey | None = None
        if self._rows is not None:
            if self._private_key is None:
                _, self._private_key = generate_keypair(
                    self._key_bits, rng=rng, allow_insecure=self.allow_insecure
                )
            public_key = self._private_key.public_key
        layout = self._make_layout(public_key)
        plaintexts = self._plaintexts(layout, public_key) if public_key is not None else []
        count = len(self._identifiers)
        total = count + len(plaintexts)

        def blind_progress(done: int, _: int) -> None:
            if progress is not None:
                progress(done, total)

        def encrypt_progress(done: int, _: int) -> None:
            if progress is not None:
                progress(count + done, total)

        group_key = self.group.generate_key(rng)
        blinded = group_key.hash_and_exponentiate(self._identifiers, progress=blind_progress)
        ciphertexts: list[int] = []
        if self._private_key is not None and plaintexts:
            # The key holder's encryption (heprim.paillier picks its fastest path: DJN by CRT).
            ciphertexts = raw_encrypt_many(
                self._private_key,
                plaintexts,
                rng=rng,
                workers=self.workers,
                progress=encrypt_progress,
            )
        k = _per_row(layout, public_key) if public_key is not None else 0
        order = shuffle(list(range(count)), rng)
        rows = tuple(blinded[j] for j in order)
        shuffled = tuple(c for j in order for c in ciphertexts[j * k : (j + 1) * k])
        self._group_key, self._layout = group_key, layout
        self._prepared = (rows, shuffled, k)
        if progress is not None and total == 0:
            progress(0, 0)

    def start(self, *, progress: Progress = None) -> list[Message]:
        """Prepare (round 0) and return nothing: B speaks second."""
        self.prepare(progress=progress)
        return []

    # ---------------------------------------------------------------------------- dispatch
    def handle(self, message: Message, *, progress: Progress = None) -> list[Message]:
        """Process one message from A; return the messages to send back."""
        self._check_live(message)
        _envelope(self.NAME, self._session, message)
        round_ = Round.MATCH if self.stage is Stage.AWAIT_HELLO else Round.REVEAL
        expected = Hello if self.stage is Stage.AWAIT_HELLO else MaskedSum
        if not self._admit(message, round_, expected):
            return []
        if isinstance(message, Hello):
            refusal = self._refusal(message)
            if refusal is not None:
                self.cost.received(message, round_)
                return [self._abort_with(message.session, refusal, round_)]
            self.prepare(progress=progress)
        with self.cost.timing(round_):  # work is charged to the round of the reply it builds
            if isinstance(message, Hello):
                replies = self._on_hello(message, progress)
            elif isinstance(message, MaskedSum):
                replies = self._on_masked_sum(message)
            else:  # pragma: no cover - excluded by the stage check above
                raise ProtocolError(f"unexpected {type(message).__name__}")
        return self._charge(message, replies, round_)

    def _abort_with(self, session: bytes, reason: str, round_: Round) -> Abort:
        self._session = session
        message = self.abort(reason)
        self.cost.sent([message], round_)
        return message

    def _refusal(self, m: Hello) -> str | None:
        if m.group != self.group.code:
            return (
                f"party B uses group {self.group.name} (code {self.group.code}), A asked for "
                f"group code {m.group}: both parties must choose the same group"
            )
        if m.want_sum and self._rows is None:
            return "party B holds no values: ask for the intersection size only"
        return None

    # ---------------------------------------------------------------------------- round 1 -> 2
    def _on_hello(self, m: Hello, progress: Progress) -> list[Message]:
        prepared, group_key, layout = self._prepared, self._group_key, self._layout
        if prepared is None or group_key is None or layout is None:  # pragma: no cover
            raise ProtocolError("party B is not prepared")
        if len(set(m.elements)) != len(m.elements):
            raise ProtocolError("party A's hello repeats a blinded identifier")
        try:
            doubled = shuffle(group_key.exponentiate_many(m.elements, progress=progress), self._rng)
        except ParameterError as exc:
            raise ProtocolError(f"a blinded identifier of party A is invalid: {exc}") from None
        rows, ciphertexts, k = prepared
        private_key = self._private_key
        if m.want_sum and private_key is not None:
            reply = Reply(
                m.session,
                self.group.code,
                layout,
                int(private_key.public_key.n),
                k,
                tuple(doubled),
                rows,
                ciphertexts,
            )
        else:
            reply = Reply(m.session, self.group.code, ValueLayout(), 0, 0, tuple(doubled), rows, ())
        self._session, self._want_sum, self._a_count = m.session, m.want_sum, len(m.elements)
        self.stage = Stage.AWAIT_MASKED_SUM
        return [reply]

    # ---------------------------------------------------------------------------- round 3 -> 4
    def _on_masked_sum(self, m: MaskedSum) -> list[Message]:
        prepared, private_key = self._prepared, self._private_key
        if prepared is None:  # pragma: no cover - guarded by the stage
            raise ProtocolError("party B is not prepared")
        rows, _, k = prepared
        if not 0 <= m.size <= min(self._a_count, len(rows)):
            raise ProtocolError(
                f"an intersection of {m.size} is impossible between {self._a_count} and "
                f"{len(rows)} identifiers"
            )
        if not self._want_sum or private_key is None:
            if m.ciphertexts:
                raise ProtocolError("party A sent ciphertexts in the size-only variant")
            self.size, self.result = m.size, PJCResult(m.size)
            self.stage = Stage.DONE
            return []
        public_key = private_key.public_key
        width = 2 * _paillier_width(public_key.n)
        if len(m.ciphertexts) != k or m.width != width:
            raise ProtocolError(
                f"party A sent {len(m.ciphertexts)} sum ciphertexts of {m.width} bytes; expected "
                f"{k} of {width}"
            )
        for c in m.ciphertexts:
            try:
                public_key.check_ciphertext(c)
            except ParameterError as exc:
                raise ProtocolError(f"party A's sum ciphertext is invalid: {exc}") from None
        self.size = m.size
        if m.size < self.min_intersection:
            reason = (
                f"the intersection has {m.size} rows, fewer than the {self.min_intersection} "
                "party B requires before revealing a sum"
            )
            self.stage, self.abort_reason = Stage.ABORTED, reason
            return [Abort(m.session, reason)]
        # One decryption per session, of what A sent: B never acts as a general decryption oracle.
        plaintexts = tuple(private_key.raw_decrypt(c) for c in m.ciphertexts)
        self.result = PJCResult(m.size)
        self.stage = Stage.DONE
        return [Revealed(m.session, _paillier_width(public_key.n), plaintexts)]
