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


# ------------------------------------------------------------------------ other protocols


def test_cli_paillier_is_exact_with_client_and_decryptor_dropout() -> None:
    out = io.StringIO()
    code = run_cli(
        {
            "protocol": "paillier",
            "clients": 8,
            "dim": 300,
            "dropout": 0.25,
            "decryptors": 4,
            "decryptor_dropout": 1,
            "key_bits": 512,
            "insecure_test_key": True,
            "seed": 4,
            "no_progress": True,
        },
        out=out,
    )
    text = out.getvalue()
    assert code == 0, text
    assert "packed threshold Paillier: n=8 decryptors l=4 t=3 key=512 bits" in text
    assert "EXACT" in text and "sum of 6 survivors" in text
    assert "decryptors silent: [" in text
    rows = [line.split()[0] for line in text.splitlines() if line[:1].isalpha()]
    assert "input" in rows and "decrypt" in rows and "total" in rows  # the same table


def test_cli_paillier_aborts_below_t_and_secagg_forces_the_complete_graph() -> None:
    out = io.StringIO()
    code = run_cli(
        {
            "protocol": "paillier",
            "clients": 3,
            "dim": 5,
            "dropout": 0.0,
            "decryptors": 3,
            "threshold": 3,
            "decryptor_dropout": 1,
            "key_bits": 512,
            "insecure_test_key": True,
            "seed": 1,
            "no_progress": True,
        },
        out=out,
    )
    assert code == 1 and "ABORTED" in out.getvalue()
    out = io.StringIO()
    code = run_cli({"protocol": "secagg", "clients": 6, "dim": 4, "seed": 2}, out=out)
    assert code == 0 and "complete graph" in out.getvalue()
    with pytest.raises(ParameterError, match="--protocol"):
        run_cli({"protocol": "rot13", "clients": 4, "dim": 2})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--protocol", "paillier", "--key-bits", "1024"], "--insecure-test-key"),
        (["--protocol", "paillier", "--decryptors", "0"], "--decryptors"),
        (["--protocol", "paillier", "--decryptor-dropout", "5"], "--decryptor-dropout"),
        (["--protocol", "bfv9"], "invalid choice"),
    ],
)
def test_paillier_options_are_checked(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["secagg", "simulate", "--clients", "4", "--dim", "2", *argv]) == 2
    assert message in capsys.readouterr().err


def test_paillier_through_main_with_progress() -> None:
    out = io.StringIO()
    argv = ["secagg", "simulate", "--protocol", "paillier", "--clients", "4", "--dim", "10"]
    argv += ["--key-bits", "512", "--insecure-test-key", "--seed", "5", "--decryptors", "3"]
    assert main(argv, out=out) == 0
    assert "paillier messages" in out.getvalue() and "EXACT" in out.getvalue()


@pytest.mark.parametrize("keys", ["client", "collective"])
def test_cli_bfv_is_exact_with_client_and_decryptor_dropout(keys: str) -> None:
    out = io.StringIO()
    code = run_cli(
        {
            "protocol": "bfv",
            "bfv_keys": keys,
            "clients": 8,
            "dim": 1500,
            "dropout": 0.25,
            "decryptors": 4,
            "decryptor_dropout": 1,
            "ring_degree": 1024,
            "seed": 4,
            "no_progress": True,
        },
        out=out,
    )
    text = out.getvalue()
    assert code == 0, text
    kind = "client keys" if keys == "client" else "collective key"
    assert f"multiparty BFV ({kind}): n=8 decryptors l=4 t=3 N=1024" in text
    assert "2 ciphertexts per client" in text
    assert "EXACT" in text and "sum of 6 survivors" in text
    rows = [line.split()[0] for line in text.splitlines() if line[:1].isalpha()]
    assert "input" in rows and "decrypt" in rows and "total" in rows  # the same table
    # The one-time setup of client keys is reported under the table, never hidden: one share
    # polynomial (3 limbs x 1024 residues of 30 bits) per decryptor and client.
    setup = f"setup (once per deployment, not in the table): {4 * 3 * 1024 * 30 // 8:,} bytes"
    assert (setup in text) == (keys == "client")
    if keys == "client":
        assert text.index("total ") < text.index(setup)


def test_cli_bfv_aborts_below_t() -> None:
    out = io.StringIO()
    code = run_cli(
        {
            "protocol": "bfv",
            "clients": 4,
            "dim": 10,
            "decryptors": 3,
            "threshold": 3,
            "decryptor_dropout": 1,
            "ring_degree": 1024,
            "seed": 1,
            "no_progress": True,
        },
        out=out,
    )
    assert code == 1
    assert "ABORTED: only 2 decryptors are online, fewer than the threshold t = 3" in out.getvalue()


@pytest.mark.parametrize("weak", [False, True])
@pytest.mark.parametrize("keys", ["client", "collective"])
def test_cli_bfv_smudging_floor_and_the_insecure_opt_in(keys: str, weak: bool) -> None:
    """Secure by default (3 primes, lambda >= 40); --insecure-smudging uploads at 2 primes and
    says so loudly. Client keys (the default) upload one polynomial, the collective key two."""
    out = io.StringIO()
    argv = ["secagg", "simulate", "--protocol", "bfv", "--clients", "6", "--dim", "100"]
    argv += ["--seed", "3", "--no-progress", "--decryptors", "3"]
    argv += ["--bfv-keys", keys] if keys == "collective" else []  # client: the default
    assert main(argv + (["--insecure-smudging"] if weak else []), out=out) == 0
    text = out.getvalue()
    assert "EXACT" in text
    lam = float(text.split("(lambda ")[1].split()[0])
    expected = {
        ("collective", True): "upload 2 polynomials at 2 primes (15.0 bytes per value, 3.75x",
        ("collective", False): "upload 2 polynomials at 3 primes (22.5 bytes per value, 5.62x",
        ("client", True): "upload 1 polynomial at 2 primes (7.5 bytes per value, 1.88x",
        ("client", False): "upload 1 polynomial at 3 primes (11.2 bytes per value, 2.81x",
    }
    assert expected[keys, weak] in text
    if weak:
        assert lam < 40 and "WARNING: --insecure-smudging: lambda = " in text
    else:
        assert lam >= 40 and "WARNING" not in text


def test_cli_bfv_keys_choice_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["secagg", "simulate", "--protocol", "bfv", "--bfv-keys", "dealer"]
    assert main(argv) == 2
    assert "invalid choice: 'dealer'" in capsys.readouterr().err
