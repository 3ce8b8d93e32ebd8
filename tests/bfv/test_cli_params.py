"""heprim.bfv.cli_params: the ``bfv-params`` report."""

from __future__ import annotations

from heprim import bfv
from heprim.bfv.cli_params import preset_rows


def test_format_presets_lists_every_preset_with_its_figures() -> None:
    text = bfv.format_presets()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["preset", "N", "t"]
    for name in bfv.PRESETS:
        params = bfv.Parameters.preset(name)
        row = next(line for line in lines if line.startswith(name))
        assert f" {params.total_bits} " in row
        assert "128-bit" in row
        assert f"2 x {params.degree // 2}" in row
        assert row.split()[-1] == str(bfv.estimate_depth(params))
    assert "HomomorphicEncryption.org" in text and text.endswith("\n")


def test_rows() -> None:
    rows = preset_rows()
    assert [row["preset"] for row in rows] == list(bfv.PRESETS)
    assert rows[1]["max (HE std)"] == "218" and rows[1]["Q primes"] == "7 x 27b"
    assert rows[3]["P primes"] == "3 x 29b"
