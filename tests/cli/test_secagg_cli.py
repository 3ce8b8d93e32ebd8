"""``python -m heprim secagg simulate``: options, exactness report, aborts, progress."""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import numpy as np
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


# ----------------------------------------------------------------------------- serve / client
def _secagg_processes_env() -> dict[str, str]:
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return {**os.environ, "PYTHONPATH": str(root)}


def _secagg_process(*argv: str) -> Any:
    """``python -m heprim secagg ARGV`` in a process of its own, its output piped (warnings
    about the throwaway test keys silenced)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "heprim", "secagg", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_secagg_processes_env(),
    )


def _listening_address(server: Any) -> str:
    """The ``HOST:PORT`` of a ``secagg serve`` process's first line."""
    first = server.stdout.readline()
    assert first.startswith("listening on "), first + server.stderr.read()
    return str(first.split()[-1])


def test_serve_and_three_client_processes_print_the_exact_sum() -> None:
    from heprim.cli.secagg_network import seeded_input
    from heprim.secagg.encoding import VectorEncoding

    dim, seed = 7, 11
    options = f"--clients 3 --dim {dim} --corrupted 0 --dropout 0 --check-seed {seed}"
    with _secagg_process(
        "serve", *f"{options} --no-progress --join-timeout 60 --round-timeout 60".split()
    ) as server:
        address = _listening_address(server)
        clients = [
            _secagg_process(
                *f"client --connect {address} --id {u} --random-seed {seed} --dim {dim}".split()
            )
            for u in (1, 2, 3)
        ]
        client_out = [c.communicate(timeout=60) for c in clients]
        rest, errors = server.communicate(timeout=60)
    assert server.returncode == 0, rest + errors
    assert all(c.returncode == 0 for c in clients), client_out
    assert all(
        out.startswith(f"client {u}: done")
        for u, (out, _) in zip((1, 2, 3), client_out, strict=True)
    )
    encoding = VectorEncoding.integers(0, 2**16 - 1)
    total = sum(seeded_input(seed, u, dim, encoding) for u in (1, 2, 3))
    assert f"sum of 3 survivors: {np.array2string(total, max_line_width=10**6)}\n" in rest
    assert "sum of 3 survivors: EXACT" in rest and "SecAgg (complete graph): n=3" in rest
    assert "\ntotal " in rest and "on the wire" in rest


class ServerOutput(io.StringIO):
    """A ``run_serve`` output stream that notes the address of its ``listening on`` line."""

    def __init__(self) -> None:
        import threading

        super().__init__()
        self.listening = threading.Event()
        self.address = ""

    def write(self, text: str) -> int:
        if text.startswith("listening on "):
            self.address = text.rsplit(maxsplit=1)[-1]
            self.listening.set()
        return super().write(text)


def test_serve_and_clients_in_process_with_npy_inputs(tmp_path) -> None:
    import threading

    from heprim.cli.secagg_network import run_client, run_serve

    dim = 5
    vectors = {u: np.array([u, 10 * u, 100 * u, 65535 - u, 0], dtype=np.int64) for u in (1, 2, 3)}
    for u, v in vectors.items():
        np.save(tmp_path / f"x{u}.npy", v)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    np.save(tmp_path / "short.npy", np.zeros(dim - 1))
    server_out, codes = ServerOutput(), {}
    options = {
        "clients": 3,
        "dim": dim,
        "protocol": "secagg",
        "corrupted": 0.0,
        "dropout": 0.0,
        "no_progress": True,
        "output": str(tmp_path / "sum.npy"),
        "join_timeout": 30.0,
    }
    server = threading.Thread(target=lambda: codes.update(server=run_serve(options, server_out)))
    server.start()
    assert server_out.listening.wait(30)
    outs = {u: io.StringIO() for u in vectors}

    def client(u: int) -> None:
        codes[u] = run_client(
            {
                "connect": server_out.address,
                "id": u,
                "dim": dim,
                "input": str(tmp_path / f"x{u}.npy"),
            },
            outs[u],
        )

    threads = [threading.Thread(target=client, args=(u,)) for u in vectors]
    for t in threads:
        t.start()
    for t in [*threads, server]:
        t.join(60)
    text = server_out.getvalue()
    assert codes == {"server": 0, 1: 0, 2: 0, 3: 0}, text
    expected = sum(vectors.values())
    assert f"sum of 3 survivors: {np.array2string(expected, max_line_width=10**6)}" in text
    assert np.array_equal(np.load(tmp_path / "sum.npy"), expected)
    assert "client 2 joined" in text and "EXACT" not in text  # nothing to check without a seed
    with pytest.raises(ParameterError, match="cannot read"):
        run_client(
            {"connect": "127.0.0.1:1", "id": 1, "dim": dim, "input": str(tmp_path / "bad.npy")}
        )
    with pytest.raises(ParameterError, match=r"shape \(4,\)"):
        run_client(
            {"connect": "127.0.0.1:1", "id": 1, "dim": dim, "input": str(tmp_path / "short.npy")}
        )


def test_serve_reports_an_abort_when_too_few_clients_join() -> None:
    from heprim.cli.secagg_network import run_serve

    out = io.StringIO()
    code = run_serve({"clients": 3, "dim": 4, "join_timeout": 0.2, "quiet": True}, out)
    assert code == 1
    assert "ABORTED: only 0 of 3 clients joined within 0.2 s" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["serve", "--clients", "1", "--dim", "3"], "at least 2"),
        (["serve", "--clients", "3", "--dim", "3", "--bits", "0"], "--bits"),
        (["serve", "--clients", "3", "--dim", "3", "--min-clients", "4"], "--min-clients"),
        (["serve", "--clients", "3", "--dim", "3", "--round-timeout", "0"], "positive"),
        (["serve", "--clients", "3", "--dim", "3", "--tls-cert", "c.pem"], "go together"),
        (
            ["serve", "--clients", "3", "--dim", "3", "--tls-client-ca", "ca.pem"],
            "needs --tls-cert",
        ),
        (["client", "--connect", "h:1", "--id", "0", "--dim", "3", "--random-seed", "1"], "--id"),
        (["client", "--connect", "h:1", "--id", "1", "--dim", "0", "--random-seed", "1"], "--dim"),
        (
            [
                "client",
                "--connect",
                "h:1",
                "--id",
                "1",
                "--dim",
                "3",
                "--random-seed",
                "1",
                "--tls-cert",
                "c.pem",
            ],
            "--tls-ca",
        ),
    ],
)
def test_serve_and_client_option_errors(argv: list[str], match: str, capsys) -> None:
    assert main(["secagg", *argv]) == 2
    assert match in capsys.readouterr().err


def test_serve_and_client_refuse_unknown_options() -> None:
    from heprim.cli.secagg_network import run_client, run_serve

    with pytest.raises(ParameterError, match="unknown options: colour"):
        run_serve({"clients": 3, "dim": 3, "colour": "red"})
    with pytest.raises(ParameterError, match="unknown options: colour"):
        run_client({"connect": "h:1", "id": 1, "dim": 3, "random_seed": 1, "colour": "red"})


@pytest.mark.parametrize(
    ("low", "high"), [(0, 65535), (-5, 5), (-(2**63), 2**63 - 1), (7, 7)], ids=str
)
def test_seeded_inputs_cover_the_range_and_depend_on_seed_and_client(low: int, high: int) -> None:
    from heprim.cli.secagg_network import seeded_input
    from heprim.secagg.encoding import VectorEncoding

    encoding = VectorEncoding.integers(low, high)
    x = seeded_input(1, 2, 2000, encoding)
    assert x.dtype == "int64" and x.shape == (2000,)
    assert low <= int(x.min()) <= int(x.max()) <= high
    assert np.array_equal(x, seeded_input(1, 2, 2000, encoding))
    if low < high:
        assert not np.array_equal(x, seeded_input(1, 3, 2000, encoding))
        assert not np.array_equal(x, seeded_input(2, 2, 2000, encoding))
    if high - low == 10:
        assert set(x.tolist()) == set(range(low, high + 1))  # every value shows up
    floats = seeded_input(1, 2, 2000, VectorEncoding.floats(-1.0, 1.0, 16))
    assert floats.dtype == "float64" and floats.min() >= -1.0 and floats.max() < 1.0


# ----------------------------------------------------------------------------- HE: setup / serve
def test_setup_then_server_and_party_processes_run_client_key_bfv(tmp_path) -> None:
    """``secagg setup`` writes the files; a server and six party processes (three clients,
    three decryptors of which t = 2 decrypt) sum exactly; the clients' keys come back with the
    seed they used, written before their upload left."""
    from heprim import serialize
    from heprim.cli.secagg_network import HEPartyFile, load_deployment

    setup = f"--protocol bfv --clients 3 --decryptors 3 --out {tmp_path} --ring-degree 1024"
    with _secagg_process("setup", *setup.split(), "--insecure-test-key", "--no-progress") as made:
        assert made.wait(60) == 0, made.stderr.read()
    assert (tmp_path / "deployment.json").stat().st_mode & 0o777 == 0o644
    assert all((tmp_path / f"party-{u}.json").stat().st_mode & 0o777 == 0o600 for u in range(1, 7))
    deployment = load_deployment(tmp_path / "deployment.json")
    assert deployment.clients == (1, 2, 3) and dict(deployment.decryptors) == {4: 1, 5: 2, 6: 3}
    assert "secret" not in (tmp_path / "deployment.json").read_text()

    dim, seed = 6, 5
    serve = f"--deployment {tmp_path / 'deployment.json'} --dim {dim} --check-seed {seed}"
    with _secagg_process("serve", "--protocol", "bfv", *serve.split(), "--no-progress") as server:
        address = _listening_address(server)
        parties = [
            _secagg_process(
                *f"client --connect {address} --key {tmp_path / f'party-{u}.json'}".split(),
                *f"--dim {dim}".split(),
                *(f"--random-seed {seed}".split() if u <= 3 else []),
            )
            for u in range(1, 7)
        ]
        outs = [p.communicate(timeout=60) for p in parties]
        rest, errors = server.communicate(timeout=60)
    assert server.returncode == 0, rest + errors
    assert [p.returncode for p in parties] == [0] * 6, outs
    assert "sum of 3 survivors: EXACT" in rest and "bfv-client-keys: n=3 clients" in rest
    assert "released: decryptor 6" in rest
    assert all(outs[u - 1][0].startswith(f"party {u}: done") for u in range(1, 6)), outs
    assert outs[5][0].startswith("party 6: not needed")
    stored = HEPartyFile.load(tmp_path / "party-1.json")
    assert stored.party == 1 and len(stored.secret.used_seeds) == 1  # type: ignore[union-attr]
    shares = serialize.loads(
        json.loads((tmp_path / "party-4.json").read_text())["secret"], context=deployment.public
    )
    assert len(shares.answered_sessions) == 1


@pytest.mark.parametrize(
    ("setup", "described"),
    [
        ({"protocol": "paillier", "key_bits": 512}, "paillier: n=3 clients, decryptors l=2 t=2"),
        ({"protocol": "bfv", "bfv_keys": "collective", "ring_degree": 1024}, "bfv: n=3 clients"),
    ],
    ids=["paillier", "bfv-collective"],
)
def test_he_setup_serve_and_parties_in_process(
    tmp_path, setup: dict[str, Any], described: str
) -> None:
    import threading

    from heprim.cli.secagg_network import run_client, run_serve, run_setup

    files = {"clients": 3, "decryptors": 2, "out": str(tmp_path), "insecure_test_key": True}
    assert run_setup({**setup, **files, "no_progress": True}, io.StringIO()) == 0
    dim, seed = 4, 9
    server_out, codes = ServerOutput(), {}
    options = {
        "protocol": setup["protocol"],
        "deployment": str(tmp_path / "deployment.json"),
        "dim": dim,
        "check_seed": seed,
        "no_progress": True,
        "join_timeout": 30.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureParametersWarning)
        server = threading.Thread(target=lambda: codes.update(s=run_serve(options, server_out)))
        server.start()
        assert server_out.listening.wait(30)

        def party(u: int) -> None:
            key = str(tmp_path / f"party-{u}.json")
            seeded = {"random_seed": seed} if u <= 3 else {}
            codes[u] = run_client(
                {"connect": server_out.address, "key": key, "dim": dim, **seeded}, io.StringIO()
            )

        threads = [threading.Thread(target=party, args=(u,)) for u in range(1, 6)]
        for t in threads:
            t.start()
        for t in [*threads, server]:
            t.join(60)
    text = server_out.getvalue()
    assert codes == {"s": 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0}, text
    assert described in text and "sum of 3 survivors: EXACT" in text


SETUP = "setup --clients 3 --decryptors 2 --out unused --protocol"


@pytest.mark.parametrize(
    ("command", "match"),
    [
        ("setup --clients 1 --decryptors 1 --out unused --protocol bfv", "at least 2"),
        (f"{SETUP} bfv --threshold 3", "--threshold"),
        (f"{SETUP} bfv --bits 0", "--bits"),
        (f"{SETUP} paillier --key-bits 512", "--insecure-test-key"),
        (f"{SETUP} bfv --bfv-keys dealer", "invalid choice"),
        ("serve --protocol paillier --dim 3", "from --deployment"),
        ("serve --protocol bfv --dim 3 --deployment d --clients 3", "not --clients"),
        ("serve --dim 3 --deployment d", "for the HE protocols"),
        ("serve --dim 3", "--clients must be"),
        ("client --connect h:1 --dim 3", "--key"),
        ("client --connect h:1 --id 1 --dim 3", "--random-seed"),
        ("client --connect h:1 --key k --dim 3 --bits 63", "--bits"),
    ],
)
def test_he_setup_serve_and_client_option_errors(command: str, match: str, capsys) -> None:
    assert main(["secagg", *command.split()]) == 2
    assert match in capsys.readouterr().err


def test_he_files_are_checked(tmp_path) -> None:
    from heprim.cli.secagg_network import run_client, run_serve, run_setup

    options = {
        "protocol": "bfv",
        "clients": 2,
        "decryptors": 1,
        "out": str(tmp_path),
        "ring_degree": 1024,
        "insecure_test_key": True,
        "no_progress": True,
    }
    assert run_setup(options, io.StringIO()) == 0
    with pytest.raises(ParameterError, match="already exists"):
        run_setup(options, io.StringIO())
    deployment = str(tmp_path / "deployment.json")
    with pytest.raises(ParameterError, match="not --protocol paillier"):
        run_serve({"protocol": "paillier", "deployment": deployment, "dim": 3})
    (tmp_path / "junk.json").write_text('{"heprim-cli": "something else"}')
    (tmp_path / "broken.json").write_text("{")
    for name in ("junk.json", "broken.json"):
        with pytest.raises(ParameterError, match=r"not a deployment|cannot read"):
            run_serve({"protocol": "bfv", "deployment": str(tmp_path / name), "dim": 3})
        with pytest.raises(ParameterError, match=r"not a party file|cannot read"):
            run_client({"connect": "h:1", "key": str(tmp_path / name), "dim": 3})
    doc = json.loads((tmp_path / "deployment.json").read_text())
    (tmp_path / "lying.json").write_text(json.dumps({**doc, "clients": [1, 2, 3]}))
    with pytest.raises(ParameterError, match="party ids do not match"):
        run_serve({"protocol": "bfv", "deployment": str(tmp_path / "lying.json"), "dim": 3})
    (tmp_path / "cut.json").write_text(json.dumps({**doc, "clients": None}))
    with pytest.raises(ParameterError, match="malformed"):
        run_serve({"protocol": "bfv", "deployment": str(tmp_path / "cut.json"), "dim": 3})
    key = str(tmp_path / "party-1.json")
    with pytest.raises(ParameterError, match="not --id 2"):
        run_client({"connect": "h:1", "key": key, "id": 2, "dim": 3, "random_seed": 1})
    with pytest.raises(ParameterError, match="is a client"):
        run_client({"connect": "h:1", "key": key, "dim": 3})
    vector = tmp_path / "v.npy"
    np.save(vector, np.zeros(3, dtype=np.int64))
    with pytest.raises(ParameterError, match="decryptor only"):
        run_client(
            {
                "connect": "h:1",
                "key": str(tmp_path / "party-3.json"),
                "dim": 3,
                "input": str(vector),
            }
        )
    party = json.loads((tmp_path / "party-1.json").read_text())
    (tmp_path / "stranger.json").write_text(json.dumps({**party, "party": 9}))
    with pytest.raises(ParameterError, match="no role"):
        run_client({"connect": "h:1", "key": str(tmp_path / "stranger.json"), "dim": 3})
