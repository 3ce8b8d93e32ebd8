"""The report behind ``python -m heprim bfv-params``: the presets, their security and depth.

:func:`format_presets` returns the text (the library prints nothing; the CLI writes it out).
"""

from __future__ import annotations

from heprim.bfv.noise import estimate_depth, estimate_fresh_budget, multiplication_cost_bits
from heprim.bfv.params import PRESETS, Parameters, max_modulus_bits

__all__ = ["format_presets", "preset_rows"]

_COLUMNS = (
    ("preset", "<"),
    ("N", ">"),
    ("t", ">"),
    ("Q primes", ">"),
    ("P primes", ">"),
    ("log2 QP", ">"),
    ("max (HE std)", ">"),
    ("security", ">"),
    ("slots", ">"),
    ("fresh budget", ">"),
    ("bits/mult", ">"),
    ("depth (est.)", ">"),
)


def _primes(primes: tuple[int, ...]) -> str:
    sizes = sorted({p.bit_length() for p in primes})
    return f"{len(primes)} x {'/'.join(map(str, sizes))}b"


def preset_rows() -> list[dict[str, str]]:
    """One row of strings per preset, keyed by the column titles of :func:`format_presets`."""
    rows = []
    for name in PRESETS:
        params = Parameters.preset(name)
        rows.append(
            {
                "preset": name,
                "N": str(params.degree),
                "t": str(params.plain_modulus),
                "Q primes": _primes(params.q),
                "P primes": _primes(params.p),
                "log2 QP": str(params.total_bits),
                "max (HE std)": str(max_modulus_bits(params.degree)),
                "security": f"{params.security_level}-bit",
                "slots": f"2 x {params.degree // 2}" if params.batching else "-",
                "fresh budget": f"{estimate_fresh_budget(params):.0f} bits",
                "bits/mult": f"{multiplication_cost_bits(params):.1f}",
                "depth (est.)": str(estimate_depth(params)),
            }
        )
    return rows


def format_presets() -> str:
    """A table of the BFV presets: sizes, HE-standard security, slots, noise and depth estimate.

    The security column compares the total modulus size (the sum of the primes' bit lengths, as
    SEAL counts it) with the HomomorphicEncryption.org table for ternary secrets. The depth is
    the heuristic of :func:`heprim.bfv.noise.estimate_depth` (sequential multiplications of fresh
    ciphertexts, each followed by relinearization).
    """
    rows = preset_rows()
    widths = {title: max(len(title), *(len(row[title]) for row in rows)) for title, _ in _COLUMNS}

    def line(cells: dict[str, str]) -> str:
        parts = []
        for title, align in _COLUMNS:
            cell = cells[title]
            parts.append(cell.ljust(widths[title]) if align == "<" else cell.rjust(widths[title]))
        return "  ".join(parts).rstrip()

    header = line({title: title for title, _ in _COLUMNS})
    rule = "  ".join("-" * widths[title] for title, _ in _COLUMNS)
    notes = [
        "",
        "Security: HomomorphicEncryption.org standard (2018), ternary secrets, classical attacks;",
        "log2 QP counts the bit lengths of all primes (ciphertext primes Q and special primes P).",
        "Depth: sequential multiplications + relinearizations a fresh ciphertext survives "
        "(heuristic; measure with",
        "heprim.bfv.invariant_noise_budget for your circuit). Plain modulus t = 65537 gives "
        "batching for every N here.",
    ]
    return "\n".join([header, rule, *(line(row) for row in rows), *notes]) + "\n"
