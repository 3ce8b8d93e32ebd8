"""Private Join and Compute: private intersection-sum-with-cardinality (Ion et al., 2020).

Layer 2 of heprim (see DESIGN.md). Party A holds identifiers; party B holds (identifier, values)
rows. A learns the intersection size and the sums of B's values over the intersection; B learns
the size; neither learns which identifiers are shared. Identifiers are blinded by a commutative
cipher in a prime-order group (:mod:`.group`, hashing by RFC 9380 in :mod:`.hashing`); values
travel under B's Paillier key and return to A under a one-time mask. The recipe::

    from heprim.pjc import intersection_sum

    run = intersection_sum(["ann", "bob", "cy"], ["bob", "cy", "dan"], [10, 20, 30])
    run.left.size, run.left.sum    # (2, 30): A's view
    run.right.size                 # 2: B's view

Underneath: the sans-I/O parties :class:`IdentifierParty` and :class:`ValueParty`
(:mod:`.party`), their messages (:mod:`.messages`), the in-process driver (:mod:`.driver`), CSV
input (:mod:`.csvio`) and the ``heprim pjc`` command (:mod:`.cli`); :mod:`heprim.net.tcp` runs a
party against a peer in another process. ``docs/pjc_explained.md`` gives the security argument.
"""

from heprim.pjc.driver import PJCRun, WireEndpoint, intersection_sum, run_in_process
from heprim.pjc.group import GROUPS, Group, get_group
from heprim.pjc.party import IdentifierParty, PJCResult, Stage, ValueParty

__all__ = [
    "GROUPS",
    "Group",
    "IdentifierParty",
    "PJCResult",
    "PJCRun",
    "Stage",
    "ValueParty",
    "WireEndpoint",
    "get_group",
    "intersection_sum",
    "run_in_process",
]
