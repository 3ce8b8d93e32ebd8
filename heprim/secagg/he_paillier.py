"""Packed threshold-Paillier aggregation: BatchCrypt packing under a t-of-l Paillier key.

The HE aggregation of :mod:`heprim.secagg.he_aggregation` with

* **keys** from a trusted dealer (:func:`heprim.paillier.threshold.deal`): an ordinary Paillier
  public key for the clients, key shares for ``l`` decryptors, any ``t`` of whom decrypt
  (Damgard-Jurik, PKC 2001, section 4);
* **inputs** encoded by the session's :class:`~heprim.secagg.encoding.VectorEncoding` (clipping,
  unbiased stochastic quantisation, optional weight coordinate: exactly what SecAgg sends), then
  packed BatchCrypt-style (Zhang et al., USENIX ATC 2020, sec. 4) into unsigned slots of ``k =
  encoding.modulus_bits(1)`` bits with ``ceil(log2 n)`` headroom bits for the ``n``
  participants and a guard bit (:class:`~heprim.paillier.packing.PackedEncoder`): at 2048 bits,
  85 slots of 16-bit values for 100 clients per ciphertext;
* **aggregation**: the server multiplies the ciphertexts slot-wise, once per ciphertext per
  client, as they arrive;
* **decryption**: each decryptor returns ``c_j**(2 Delta s_i)`` for every aggregate ciphertext,
  with one batched proof of correctness when the session asks for proofs; the server verifies
  shares in index order until it has ``t`` valid ones, combines them and unpacks the slots. Any
  slot beyond what ``count`` in-range inputs can sum to aborts the session (the packing's
  overflow check), as do shares that do not combine.

Client dropout needs nothing: the sum is over the clients whose ciphertexts arrived, and the
decoder is told how many. Decryptor dropout is tolerated down to ``t``; below, the session
aborts with the reason.

What each party learns: clients nothing; the server the sum, the set of contributors and the
sizes; decryptors the aggregate ciphertext and the contributors, and (with the server's help)
the sum. Decryptors refuse a second request and a sum of fewer than ``min_contributors`` inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from heprim.errors import EncodingOverflowError, ParameterError, ProtocolError
from heprim.math.prng import PRNG
from heprim.paillier.keys import PublicKey
from heprim.paillier.packing import PackedEncoder
from heprim.paillier.threshold import (
    DecryptionShare,
    KeyShare,
    ShareProof,
    ThresholdPublicKey,
    generate_threshold_keypair,
)
from heprim.secagg.encoding import VectorEncoding
from heprim.secagg.he_aggregation import (
    HEAggregationParty,
    HEAggregationServer,
    HEPartyStage,
    HEServerStage,
    HESessionConfig,
)
from heprim.secagg.he_messages import (
    FINGERPRINT_BYTES,
    DecryptRequest,
    EncryptedInput,
    HERound,
    PaillierSetup,
    PartialDecryption,
)
from heprim.secagg.messages import SERVER, Message

__all__ = [
    "PaillierAggregationServer",
    "PaillierDeployment",
    "PaillierParty",
    "packing_layout",
]

_TRANSPORT_BITS = 64  # the encoding's words before packing: exact up to 2**64 - 1


def packing_layout(
    public_key: PublicKey, encoding: VectorEncoding, participants: int
) -> PackedEncoder:
    """The BatchCrypt layout for a session: what every client packs and the server unpacks.

    Unsigned slots of ``k = encoding.modulus_bits(1)`` bits (one client's largest encoded
    coordinate, weight included), headroom for ``participants`` additions and a guard bit:
    a sum of up to ``participants`` inputs never spills into the next slot, and anything
    else is detected at decoding.

    Raises:
        ParameterError: a slot would exceed 64 bits (reduce the quantisation bits, the weight
            bound or the number of clients).
    """
    return PackedEncoder(
        public_key, encoding.modulus_bits(1), max_additions=participants, signed=False
    )


def _fingerprint_bytes(public: ThresholdPublicKey) -> bytes:
    return bytes.fromhex(public.fingerprint)[:FINGERPRINT_BYTES]


def _ciphertext_width(public: ThresholdPublicKey) -> int:
    return (int(public.public_key.nsquare.bit_length()) + 7) // 8


class PaillierAggregationServer(HEAggregationServer):
    """The server of a packed threshold-Paillier aggregation (see the module docstring).

    Args:
        config: the session (its threshold must be the key's, its share indices the key's).
        public: the threshold public key (public: no secret is needed to aggregate).
        proofs: require and verify a proof with every decryption share.

    Attributes:
        rejected: decryptors whose shares failed verification, with the reason.
    """

    STAGES: ClassVar[Mapping[HEServerStage, tuple[type[Message], HERound]]] = {
        HEServerStage.COLLECT_INPUTS: (EncryptedInput, HERound.INPUT),
        HEServerStage.COLLECT_SHARES: (PartialDecryption, HERound.DECRYPT),
    }

    def __init__(
        self, config: HESessionConfig, public: ThresholdPublicKey, *, proofs: bool = True
    ) -> None:
        super().__init__(config)
        if not isinstance(public, ThresholdPublicKey):
            raise ParameterError(
                f"public must be a ThresholdPublicKey, got {type(public).__name__}"
            )
        if config.threshold != public.threshold:
            raise ParameterError(
                f"the session's threshold {config.threshold} is not the key's {public.threshold}"
            )
        for party, index in config.decryptors.items():
            if not 1 <= index <= public.parties:
                raise ParameterError(
                    f"decryptor {party} has share index {index}; the key has shares 1 .. "
                    f"{public.parties}"
                )
        self.public = public
        self.proofs = bool(proofs)
        self.rejected: dict[int, str] = {}
        self._encoder = packing_layout(public.public_key, config.encoding, len(config.participants))
        self._length = config.encoding.length(config.dim)
        self._count = self._encoder.ciphertexts_for(self._length)
        self._width = _ciphertext_width(public)
        self._aggregate: list[int] | None = None
        self._shares: dict[int, PartialDecryption] = {}

    @property
    def encoder(self) -> PackedEncoder:
        """The packing layout of the session."""
        return self._encoder

    def _setup_factory(self) -> Callable[..., Message]:
        return partial(
            PaillierSetup,
            key_fingerprint=_fingerprint_bytes(self.public),
            min_contributors=self.config.min_contributors,
            proofs=self.proofs,
        )

    def _check_values(self, values: tuple[int, ...], width: int, sender: int, what: str) -> None:
        if width != self._width or len(values) != self._count:
            raise ProtocolError(
                f"party {sender}'s {what} must be {self._count} integers of {self._width} bytes"
            )
        nsq = self.public.public_key.nsquare
        for value in values:
            if not 0 < value < nsq:
                raise ProtocolError(f"party {sender}'s {what} holds a value outside (0, n**2)")

    def _accept(self, message: Message) -> None:
        if isinstance(message, EncryptedInput):
            self._check_values(message.ciphertexts, message.width, message.sender, "ciphertexts")
            nsq = self.public.public_key.nsquare
            if self._aggregate is None:
                self._aggregate = list(message.ciphertexts)
            else:
                self._aggregate = [
                    a * b % nsq for a, b in zip(self._aggregate, message.ciphertexts, strict=True)
                ]
        elif isinstance(message, PartialDecryption):
            self._check_values(message.shares, message.width, message.sender, "shares")
            if self.proofs and not message.has_proof:
                raise ProtocolError(
                    f"decryptor {message.sender} sent shares without the proof the session asks"
                )
            self._shares[message.sender] = message

    def _advance(self, done: set[int]) -> list[Message]:
        if self.stage is HEServerStage.COLLECT_INPUTS:
            return self._after_inputs(done)
        return self._after_shares(done)

    def _after_inputs(self, done: set[int]) -> list[Message]:
        if not self._enough_inputs(done) or self._aggregate is None:
            return self._abort_few_inputs(done)
        contributors = tuple(sorted(done))
        aggregate = tuple(self._aggregate)
        return self._request_decryption(
            HEServerStage.COLLECT_SHARES,
            lambda session, sender, party: DecryptRequest(
                session, sender, party, contributors, aggregate, self._width
            ),
        )

    def _after_shares(self, done: set[int]) -> list[Message]:
        cfg, public = self.config, self.public
        aggregate = self._aggregate or []
        valid: list[DecryptionShare] = []
        # In share-index order, verifying only until t valid shares are in hand.
        for party in sorted(done, key=lambda p: cfg.decryptors[p]):
            if len(valid) == cfg.threshold:
                break
            m = self._shares[party]
            proof = ShareProof(m.challenge, m.response) if m.has_proof else None
            share = DecryptionShare(cfg.decryptors[party], m.shares, proof)
            if self.proofs and not public.verify(aggregate, share):
                self.rejected[party] = "its decryption shares fail their proof of correctness"
                continue
            valid.append(share)
        if len(valid) < cfg.threshold:
            rejected = f" ({len(self.rejected)} rejected: {sorted(self.rejected)})"
            return self._abort(
                f"only {len(valid)} valid decryption shares from {len(done)} decryptors that "
                f"answered{rejected if self.rejected else ''}, fewer than the threshold t = "
                f"{cfg.threshold}"
            )
        try:
            plaintexts = public.combine(aggregate, valid)
            sums = self._encoder.decode(plaintexts, self._length, len(self._contributors))
        except (ProtocolError, EncodingOverflowError) as exc:
            return self._abort(f"the aggregate does not decrypt to a valid sum: {exc}")
        self._aggregate, self._shares = None, {}
        return self._finish(sums.astype(np.uint64))


class PaillierParty(HEAggregationParty):
    """A client of a packed threshold-Paillier aggregation, a decryptor, or both.

    Args:
        party_id: the party's id, in ``[1, 2^32)``.
        public: the threshold public key, received from the dealer (never from the server:
            a server that handed out its own key could decrypt every input).
        key_share: this party's key share if it is a decryptor.
        min_contributors: as a decryptor, never open a sum of fewer inputs than this, whatever
            the session says.
        rng: randomness of the encryption, the quantisation and the proofs.
        workers: parallel workers for encryption and decryption shares.
    """

    def __init__(
        self,
        party_id: int,
        public: ThresholdPublicKey,
        *,
        key_share: KeyShare | None = None,
        min_contributors: int = 2,
        rng: PRNG | None = None,
        workers: int = 1,
    ) -> None:
        super().__init__(party_id, rng=rng)
        if not isinstance(public, ThresholdPublicKey):
            raise ParameterError(
                f"public must be a ThresholdPublicKey, got {type(public).__name__}"
            )
        if key_share is not None:
            if not isinstance(key_share, KeyShare):
                raise ParameterError(
                    f"key_share must be a KeyShare, got {type(key_share).__name__}"
                )
            if key_share.public != public:
                raise ParameterError("the key share belongs to another threshold key")
        if isinstance(min_contributors, bool) or not isinstance(min_contributors, int):
            raise ParameterError(f"min_contributors must be an integer, got {min_contributors!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParameterError(f"workers must be a positive integer, got {workers!r}")
        self.public = public
        self._key_share = key_share
        self._min_contributors = max(1, min_contributors)
        self._workers = workers
        self._setup: PaillierSetup | None = None
        self._encoder: PackedEncoder | None = None

    @property
    def is_decryptor(self) -> bool:
        """Whether this party holds a key share."""
        return self._key_share is not None

    def _dispatch(self, message: Message) -> list[Message]:
        if self.stage is HEPartyStage.AWAIT_SETUP and isinstance(message, PaillierSetup):
            return self._on_setup(message)
        if self.stage is HEPartyStage.AWAIT_REQUEST and isinstance(message, DecryptRequest):
            return self._on_request(message)
        raise self._out_of_order(message)

    def _on_setup(self, m: PaillierSetup) -> list[Message]:
        public = self.public
        if m.key_fingerprint != _fingerprint_bytes(public):
            raise ProtocolError(
                "the server announced another key than the dealer's: refusing to encrypt under it"
            )
        if m.threshold != public.threshold:
            raise ProtocolError(f"the setup says t = {m.threshold}, the key {public.threshold}")
        participants, holders = self._setup_roles(m.participants, m.decryptors)
        indices = list(holders.values())
        if len(set(indices)) != len(indices) or not all(1 <= i <= public.parties for i in indices):
            raise ProtocolError("the setup gives decryptors repeated or unknown share indices")
        if self.id not in participants and self.id not in holders:
            raise ProtocolError(f"party {self.id} has no role in this session")
        share = self._key_share
        if share is not None and holders.get(self.id) != share.index:
            raise ProtocolError(
                f"party {self.id} holds share {share.index} but the setup lists it as "
                f"{holders.get(self.id)}"
            )
        if share is None and self.id in holders:
            raise ProtocolError(
                f"the setup lists party {self.id} as a decryptor, but it holds no key share"
            )
        if not 1 <= m.min_contributors <= len(participants):
            raise ProtocolError(f"min_contributors {m.min_contributors} outside [1, n]")
        if share is not None and m.min_contributors < self._min_contributors:
            raise ProtocolError(
                f"the session would open sums of {m.min_contributors} inputs; this decryptor "
                f"requires at least {self._min_contributors}"
            )
        if m.dim < 1:
            raise ProtocolError("the vector dimension must be positive")
        try:
            encoder = packing_layout(public.public_key, m.encoding, len(participants))
        except ParameterError as exc:
            raise ProtocolError(f"no safe packing for this session: {exc}") from exc
        self._setup, self._encoder, self._session = m, encoder, m.session
        out: list[Message] = []
        if self.id in participants:
            values, weight = self._take_input()
            words = m.encoding.encode(values, _TRANSPORT_BITS, weight=weight, rng=self._rng)
            expected = m.encoding.length(m.dim)
            if words.shape[0] != expected:
                raise ParameterError(
                    f"party {self.id}'s input has {words.shape[0]} coordinates once encoded, the "
                    f"session expects {expected}"
                )
            packed = encoder.encrypt(words, rng=self._rng, workers=self._workers)
            out.append(
                EncryptedInput(
                    m.session, self.id, SERVER, packed.ciphertexts, _ciphertext_width(public)
                )
            )
        self.stage = HEPartyStage.AWAIT_REQUEST if share is not None else HEPartyStage.DONE
        return out

    def _on_request(self, m: DecryptRequest) -> list[Message]:
        setup, encoder, share = self._setup, self._encoder, self._key_share
        if setup is None or encoder is None or share is None:  # pragma: no cover - stage order
            raise ProtocolError("no setup received")
        contributors = set(m.contributors)
        if len(contributors) != len(m.contributors) or not contributors <= set(setup.participants):
            raise ProtocolError("the contributors repeat ids or name non-participants")
        floor = max(setup.min_contributors, self._min_contributors)
        if len(contributors) < floor:
            raise ProtocolError(
                f"asked to decrypt a sum of {len(contributors)} inputs, fewer than {floor}: "
                "refusing (it would reveal individual inputs)"
            )
        expected = encoder.ciphertexts_for(setup.encoding.length(setup.dim))
        if len(m.ciphertexts) != expected:
            raise ProtocolError(f"the aggregate must be {expected} ciphertexts")
        try:
            result = share.decrypt(
                m.ciphertexts, prove=setup.proofs, rng=self._rng, workers=self._workers
            )
        except ParameterError as exc:
            raise ProtocolError(f"the aggregate is not a valid ciphertext vector: {exc}") from exc
        self.stage = HEPartyStage.DONE  # one decryption per session, never two
        proof = result.proof
        return [
            PartialDecryption(
                setup.session,
                self.id,
                SERVER,
                result.values,
                proof.challenge if proof else 0,
                proof.response if proof else 0,
                _ciphertext_width(self.public),
            )
        ]


@dataclass(frozen=True)
class PaillierDeployment:
    """A dealt threshold-Paillier key and who holds which share: builds servers and parties.

    Attributes:
        public: the threshold public key.
        shares: party id -> that party's :class:`~heprim.paillier.threshold.KeyShare`.
        proofs: whether decryption shares carry (and the server checks) proofs.
        workers: parallel workers for each party's encryption and decryption shares.
        min_contributors: each decryptor's own floor on the number of inputs in a sum.
    """

    public: ThresholdPublicKey
    shares: Mapping[int, KeyShare] = field(repr=False)
    proofs: bool = True
    workers: int = 1
    min_contributors: int = 2
    name: ClassVar[str] = "paillier"

    def __post_init__(self) -> None:
        if not isinstance(self.public, ThresholdPublicKey):
            raise ParameterError("public must be a ThresholdPublicKey")
        for party, share in self.shares.items():
            if not isinstance(share, KeyShare) or share.public != self.public:
                raise ParameterError(f"party {party}'s share is not a share of this key")
        if len({s.index for s in self.shares.values()}) != len(self.shares):
            raise ParameterError("two parties hold the same key share")
        object.__setattr__(self, "shares", MappingProxyType(dict(self.shares)))

    @classmethod
    def from_shares(
        cls,
        public: ThresholdPublicKey,
        shares: Sequence[KeyShare],
        decryptors: Sequence[int],
        *,
        proofs: bool = True,
        workers: int = 1,
        min_contributors: int = 2,
    ) -> PaillierDeployment:
        """Give ``shares[k]`` to party ``decryptors[k]`` (the same length)."""
        if len(shares) != len(decryptors):
            raise ParameterError(
                f"{len(shares)} shares for {len(decryptors)} decryptors: give one share each"
            )
        return cls(
            public,
            dict(zip(decryptors, shares, strict=True)),
            proofs=proofs,
            workers=workers,
            min_contributors=min_contributors,
        )

    @classmethod
    def generate(
        cls,
        decryptors: Sequence[int],
        threshold: int,
        *,
        n_bits: int = 3072,
        rng: PRNG | None = None,
        allow_insecure: bool = False,
        progress: Callable[[int, int], None] | None = None,
        proofs: bool = True,
        workers: int = 1,
    ) -> PaillierDeployment:
        """A trusted dealer generates a key for ``decryptors`` (party ids), ``threshold`` of
        whom decrypt (:func:`~heprim.paillier.threshold.generate_threshold_keypair`)."""
        public, shares = generate_threshold_keypair(
            n_bits,
            parties=len(decryptors),
            threshold=threshold,
            rng=rng,
            allow_insecure=allow_insecure,
            progress=progress,
        )
        return cls.from_shares(public, shares, decryptors, proofs=proofs, workers=workers)

    @property
    def decryptors(self) -> Mapping[int, int]:
        """Each key holder's party id and share index."""
        return MappingProxyType({party: share.index for party, share in self.shares.items()})

    @property
    def threshold(self) -> int:
        """How many decryptors must answer."""
        return self.public.threshold

    def prepare(self) -> None:
        """Build the public key's DJN fixed-base table (once per key, ~0.3 s at 2048 bits)."""
        self.public.public_key.precompute()

    def server(self, config: HESessionConfig) -> PaillierAggregationServer:
        """The server of one session."""
        return PaillierAggregationServer(config, self.public, proofs=self.proofs)

    def party(self, party_id: int, *, rng: PRNG | None = None) -> PaillierParty:
        """Party ``party_id`` of one session (with its key share if it has one)."""
        return PaillierParty(
            party_id,
            self.public,
            key_share=self.shares.get(party_id),
            min_contributors=self.min_contributors,
            rng=rng,
            workers=self.workers,
        )
