"""Secure aggregation: a server learns the sum of many clients' vectors and nothing else.

SecAgg (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al., CCS 2020) as sans-I/O state
machines: :class:`SecAggClient` and :class:`SecAggServer` exchange the typed messages of
:mod:`heprim.secagg.messages`; drivers (:mod:`heprim.net.simulate`, the Flower integration in
:mod:`heprim.contrib.flower`) only move them. See ``docs/secagg_explained.md``.

Aggregation by homomorphic encryption runs on the same framework
(:mod:`heprim.secagg.he_aggregation`): packed threshold Paillier
(:class:`PaillierDeployment`, :mod:`heprim.secagg.he_paillier`) and batched multiparty BFV
(:class:`BFVDeployment`, :mod:`heprim.secagg.he_bfv`). See
``docs/choosing_protocol.md``.
"""

from heprim.secagg.client import ClientStage, SecAggClient
from heprim.secagg.cost import CostLedger, RoundCost
from heprim.secagg.crypto import SigningKey
from heprim.secagg.encoding import Aggregate, VectorEncoding
from heprim.secagg.graph import GraphParams, choose_graph
from heprim.secagg.he_aggregation import HEDeployment, HESessionConfig
from heprim.secagg.he_bfv import BFVDeployment
from heprim.secagg.he_messages import HERound
from heprim.secagg.he_paillier import PaillierDeployment
from heprim.secagg.messages import Message, Round, decode, encode
from heprim.secagg.server import SecAggServer, ServerStage, SessionAbortedError, SessionConfig

__all__ = [
    "Aggregate",
    "BFVDeployment",
    "ClientStage",
    "CostLedger",
    "GraphParams",
    "HEDeployment",
    "HERound",
    "HESessionConfig",
    "Message",
    "PaillierDeployment",
    "Round",
    "RoundCost",
    "SecAggClient",
    "SecAggServer",
    "ServerStage",
    "SessionAbortedError",
    "SessionConfig",
    "SigningKey",
    "VectorEncoding",
    "choose_graph",
    "decode",
    "encode",
]
