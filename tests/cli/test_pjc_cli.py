"""``heprim pjc`` as a function: local runs, JSON output, option and CSV errors.

The two-process mode is exercised in ``tests/net/test_tcp.py`` (it needs the TCP driver).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from heprim.cli.pjc import add_arguments, run_cli
from heprim.errors import ParameterError, ProtocolError
from heprim.pjc.csvio import CSVError

LEFT = "email\nann@x.org\nbob@x.org\nbob@x.org\ncy@x.org\n"
RIGHT = "email,spend,visits\nbob@x.org,10.50,1\ncy@x.org,2.25,3\ndan@x.org,100,7\n"
FAST = {"key_bits": 1024, "insecure_test_key": True}


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    left.write_text(LEFT)
    right.write_text(RIGHT)
    return str(left), str(right)


def run(options: dict, **kwargs) -> tuple[int, str]:
    out = io.StringIO()
    code = run_cli(options, out, **kwargs)
    return code, out.getvalue()


def test_local_run_prints_size_sums_and_costs(files) -> None:
    left, right = files
    code, text = run({"left": left, "right": right, **FAST})
    assert code == 0
    assert "3 identifiers (1 repeat collapsed)" in text
    assert "values 'spend', 'visits', decimals 2/0" in text
    assert "intersection size: 2\n" in text
    assert "sum of spend: 12.75\n" in text and "sum of visits: 4\n" in text
    assert "Paillier 1024-bit key" in text
    for row in ("prepare", "blind", "match", "sum", "reveal", "total"):
        assert f"\n{row}" in text


def test_json_output_and_column_choice(files) -> None:
    left, right = files
    code, text = run(
        {"left": left, "right": right, "value_columns": ["visits"], "json": True, **FAST}
    )
    payload = json.loads(text)
    assert code == 0
    assert payload["intersection_size"] == 2 and payload["sums"] == {"visits": "4"}
    assert payload["bytes"] > 0 and payload["paillier_bits"] == 1024 and payload["aborted"] is None


def test_size_only_needs_no_values_and_no_key(files, tmp_path: Path) -> None:
    left, _ = files
    ids_only = tmp_path / "ids.csv"
    ids_only.write_text("email\nbob@x.org\nzed@x.org\n")
    code, text = run({"left": left, "right": str(ids_only), "size_only": True, "json": True})
    payload = json.loads(text)
    assert code == 0 and payload["intersection_size"] == 1
    assert payload["sums"] is None and payload["paillier_bits"] is None


def test_modp_group_and_argparse_namespace(files) -> None:
    left, right = files
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--left",
            left,
            "--right",
            right,
            "--group",
            "modp2048",
            "--key-bits",
            "1024",
            "--insecure-test-key",
            "--value-column",
            "spend",
            "--json",
        ]
    )
    code, text = run(args)  # type: ignore[arg-type]
    assert code == 0 and json.loads(text)["sums"] == {"spend": "12.75"}


def test_min_intersection_refusal_exits_1(files) -> None:
    left, right = files
    code, text = run({"left": left, "right": right, "min_intersection": 3, **FAST})
    assert code == 1
    assert "intersection size: 2" in text and "ABORTED" in text and "sum of" not in text


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"left": "x.csv"}, "both --left and --right"),
        ({"left": "x.csv", "right": "y.csv", "listen": "127.0.0.1:0"}, "exactly one of"),
        ({"connect": "127.0.0.1:1"}, "exactly one of"),
        ({"left": "x", "right": "y", "key_bits": 1024}, "insecure"),
        ({"left": "x", "right": "y", "min_intersection": -1}, "non-negative"),
        ({"left": "x", "right": "y", "workers": 0}, "at least 1"),
        ({"left": "x", "right": "y", "colour": "red"}, "unknown pjc options: colour"),
    ],
)
def test_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        run(options)


def test_csv_errors_name_the_line_and_column(files, tmp_path: Path) -> None:
    left, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("email,spend\nbob@x.org,12\ncy@x.org,twelve\n")
    with pytest.raises(
        CSVError, match=r"bad.csv, line 3, column 'spend': 'twelve' is not a number"
    ):
        run({"left": left, "right": str(bad), **FAST})
    bad.write_text("email,spend\nbob@x.org,12\nbob@x.org,1\n")
    with pytest.raises(CSVError, match="already appeared on line 2"):
        run({"left": left, "right": str(bad), **FAST})
    code, text = run({"left": left, "right": str(bad), "duplicates": "sum", "json": True, **FAST})
    assert code == 0 and json.loads(text)["sums"] == {"spend": "13"}
    with pytest.raises(CSVError, match="no value column 'amount'"):
        run({"left": left, "right": str(bad), "value_columns": ["amount"], **FAST})


def test_peer_runner_is_called_with_the_endpoint(files) -> None:
    left, _ = files
    calls = []

    def fake_runner(endpoint, address, *, listen, ready=None, timeout=None):
        calls.append((address, listen, timeout))
        if ready is not None:
            ready("127.0.0.1", 4242)
        raise ProtocolError("no peer")

    with pytest.raises(ProtocolError, match="no peer"):
        run({"left": left, "listen": "127.0.0.1:0", "timeout": 5.0}, peer_runner=fake_runner)
    assert calls == [("127.0.0.1:0", True, 5.0)]


def test_through_the_main_command_line(files) -> None:
    from heprim.cli import main

    left, right = files
    out = io.StringIO()
    argv = ["pjc", "--left", left, "--right", right, "--key-bits", "1024", "--insecure-test-key"]
    assert main(argv, out=out) == 0
    assert "intersection size: 2\n" in out.getvalue()
    assert main(["pjc", "--left", left], out=out) == 2  # one file without a peer: usage error
