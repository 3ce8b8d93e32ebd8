"""``python -m heprim secagg simulate``: options, exactness report, aborts, progress."""

from __future__ import annotations

import io

import pytest

from heprim.cli import main
from heprim.cli.secagg import run as run_cli
from heprim.errors import InsecureParametersWarning, ParameterError


def test_cli_reports_an_exact_sum() -> None:
    out = io.StringIO()
    code = run_cli(
        {
            "clients": 20,
            "dim": 300,
            "dropout": 0.1,
            "dropout_round": "masked_input",
            "seed": 7,
            "no_progress": True,
        },
        out=out,
    )
    text = out.getvalue()
    assert code == 0, text
    assert "EXACT" in text and "SecAgg" in text and "unmask" in text


def test_cli_complete_graph_and_active_profile() -> None:
    out = io.StringIO()
    code = run_cli(
        {
            "clients": 8,
            "dim": 10,
            "dropout": 0.0,
            "graph": "complete",
            "profile": "active",
            "corrupted": 0.0,
            "seed": 1,
            "no_progress": True,
        },
        out=out,
    )
    assert code == 0, out.getvalue()
    assert "complete graph" in out.getvalue() and "consistency" in out.getvalue()


def test_cli_reports_an_abort() -> None:
    out = io.StringIO()
    with pytest.warns(InsecureParametersWarning, match="below"):
        code = run_cli(
            {
                "clients": 10,
                "dim": 5,
                "dropout": 0.5,
                "dropout_round": "advertise_keys",
                "degree": 6,
                "threshold": 6,
                "seed": 2,
                "no_progress": True,
            },
            out=out,
        )
    assert code == 1
    assert "ABORTED" in out.getvalue()


def test_cli_reports_progress() -> None:
    out = io.StringIO()
    assert run_cli({"clients": 5, "dim": 3, "dropout": 0.0, "seed": 3}, out=out) == 0
    assert "secagg messages" in out.getvalue()


def test_secagg_simulate_through_main() -> None:
    out = io.StringIO()
    code = main(["secagg", "simulate", "--clients", "6", "--dim", "4", "--seed", "1"], out=out)
    assert code == 0
    assert "EXACT" in out.getvalue()
    assert main(["secagg", "simulate", "--clients", "1", "--dim", "4"], out=out) == 2


def test_cli_validates_sizes() -> None:
    with pytest.raises(ParameterError):
        run_cli({"clients": 1, "dim": 3})
    with pytest.raises(ParameterError, match="--threshold"):
        run_cli({"clients": 5, "dim": 3, "degree": 2})
