"""The command line: demo, bench and keygen end to end, the README's example, and every exit code.

Keys here are 1024-bit test keys (``--insecure-test-key``): the commands are the same at any size,
and the whole file must run in a few seconds.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import heprim
from heprim.cli import build_parser, main
from heprim.cli.demo import federated_run, load_dataset, split_hospitals, synthetic_dataset
from heprim.cli.keygen import write_file
from heprim.cli.progress import Reporter
from heprim.errors import ParameterError

# Every key here is a deliberate 1024-bit test key; loading one warns, by design.
pytestmark = pytest.mark.filterwarnings("ignore::heprim.errors.InsecureParametersWarning")

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = ["--bits", "1024", "--insecure-test-key"]


def run_cli(*argv: str) -> tuple[int, str]:
    """Run ``main`` and return (exit code, report)."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


# ----------------------------------------------------------------------------------- top level


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"heprim {heprim.__version__}"


def test_python_dash_m_heprim_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "heprim", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"heprim {heprim.__version__}"


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("demo", "bench", "keygen"):
        assert command in text


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: heprim" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "invalid choice"),
        (["demo", "--clients", "0"], "must be a positive integer"),
        (["demo", "--rounds", "ten"], "invalid"),
        (["demo", "--protocol", "bfv2"], "invalid choice"),
        (["demo", "--bfv-keys", "dealer"], "invalid choice"),
        (["demo", "--dropout", "1.5"], "--dropout"),
        (["demo", "--hospitals", "1"], "at least 2"),
        (["demo", "--hospitals", "3", "--decryptors", "4"], "cannot exceed"),
        (["demo", "--quant-bits", "40"], "--quant-bits"),
        (["demo", "--clip", "0"], "--clip"),
        (["demo", "--bits", "1024"], "--insecure-test-key"),
        (["bench", "--bits", "512"], "--insecure-test-key"),
        (["bench", *TEST_KEY, "--repeat", "0"], "--repeat must be at least 1"),
        (["keygen"], "--out"),
        (["keygen", "--out", "x", "--bits", "1536"], "below 2048"),
        (["demo", "--no-such-option"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_library_errors_exit_1_with_the_library_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A key too small even for allow_insecure is refused by the library, not by argparse."""
    code, _ = run_cli("keygen", "--out", "unused", "--bits", "64", "--insecure-test-key")
    assert code == 1
    assert "heprim keygen: error:" in capsys.readouterr().err


def test_every_subcommand_binds_a_runner() -> None:
    parser = build_parser()
    for argv in (["demo"], ["bench"], ["keygen", "--out", "x"]):
        assert callable(parser.parse_args(argv).run)


# ----------------------------------------------------------------------------------------- demo


@pytest.mark.parametrize("protocol", ["paillier", "bfv", "secagg+", "plain"])
def test_demo_end_to_end_small(protocol: str) -> None:
    code, report = run_cli(
        "demo",
        "--protocol",
        protocol,
        "--hospitals",
        "4",
        "--rounds",
        "2",
        *TEST_KEY,
        "--seed",
        "7",
        "--dataset",
        "synthetic",
    )
    assert code == 0, report
    assert "seed 7" in report and "synthetic" in report
    rows = [line.split() for line in report.splitlines() if re.match(r"\s+[12]\s+\d", line)]
    assert [row[0] for row in rows] == ["1", "2"]
    for row in rows:
        assert 0.5 < float(row[2]) <= 1 and abs(float(row[2]) - float(row[3])) <= 0.02
    assert "demo passed" in report
    if protocol == "paillier":
        assert "threshold Paillier key, hospitals 1-4 hold shares, any 3 decrypt" in report
    if protocol == "bfv":
        assert "BFV client keys" in report and "any 3 decrypt" in report
    if protocol != "plain":
        assert re.search(r"aggregation error at most .* = .*: OK", report)


def test_demo_bfv_collective_key_mode() -> None:
    """``--bfv-keys collective``: one threshold key generated by the decryptors and two
    polynomials per upload, so a round moves more bytes than in the (default) client-key mode."""
    common = ("--hospitals", "4", "--rounds", "1", "--seed", "3", "--dataset", "synthetic")
    code, collective = run_cli("demo", "--protocol", "bfv", "--bfv-keys", "collective", *common)
    assert code == 0, collective
    assert "collective BFV key" in collective and "demo passed" in collective
    code, client = run_cli("demo", "--protocol", "bfv", *common)
    assert code == 0, client

    def upload(report: str) -> float:
        row = next(line for line in report.splitlines() if re.match(r"\s+1\s+\d", line))
        return float(row.split()[-3])  # KiB

    assert upload(collective) > 1.2 * upload(client)


def test_demo_fails_when_the_aggregate_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is real: an aggregate off by more than the bound makes the demo exit 1."""
    from heprim.secagg.encoding import Aggregate

    genuine = Aggregate.mean

    def off(self: Aggregate) -> np.ndarray:
        return genuine(self) + 1e-3

    monkeypatch.setattr(Aggregate, "mean", off)
    code, report = run_cli(
        "demo", "--protocol", "secagg+", "--hospitals", "3", "--rounds", "1", "--seed", "1"
    )
    assert code == 1
    assert "EXCEEDED" in report and "demo FAILED" in report


def test_demo_without_seed_prints_the_seed_it_drew() -> None:
    code, report = run_cli("demo", "--protocol", "plain", "--hospitals", "2", "--rounds", "1")
    assert code == 0, report
    assert re.search(r"rerun with --seed (\d+)", report) is not None


@pytest.mark.parametrize("protocol", ["paillier", "secagg", "secagg+"])
def test_federated_accuracy_matches_plaintext_fedavg_within_the_bound(protocol: str) -> None:
    records, summary = federated_run(
        protocol,
        hospitals=5,
        rounds=3,
        dataset="synthetic",
        dropout=0.2,
        quant_bits=12,
        bits=1024,
        seed=5,
    )
    bound = summary["bound"]
    assert bound == pytest.approx(4 / (2**12 - 1))
    for rec in records:
        assert rec.contributors == 4  # one of five drops out every round
        assert 0 < rec.aggregation_error <= bound  # quantisation really happened, within bound
        assert abs(rec.accuracy_protocol - rec.accuracy_plain) <= 0.02
        assert rec.model_gap <= rec.round * bound
        assert rec.upload_bytes > 0 and rec.server_seconds > 0
    assert records[-1].accuracy_plain > 0.8
    if protocol == "paillier":
        assert summary["threshold"] == 3 and all(r.decrypt_seconds > 0 for r in records)


def test_plain_federated_run_is_exact_and_reproducible() -> None:
    records, summary = federated_run("plain", hospitals=3, rounds=2, dataset="synthetic", seed=2)
    again, summary2 = federated_run("plain", hospitals=3, rounds=2, dataset="synthetic", seed=2)
    assert all(r.aggregation_error == 0 and r.model_gap == 0 for r in records)
    assert np.array_equal(summary["w_plain"], summary2["w_plain"])
    assert [r.accuracy_plain for r in records] == [r.accuracy_plain for r in again]
    with pytest.raises(ParameterError, match="unknown protocol"):
        federated_run("bfv2")


def test_synthetic_dataset_is_reproducible_and_breast_cancer_shaped() -> None:
    data = synthetic_dataset(42)
    assert data.features.shape == (569, 30) and data.labels.shape == (569,)
    assert set(np.unique(data.labels).tolist()) == {0.0, 1.0}
    assert 0.5 < data.labels.mean() < 0.75
    assert np.array_equal(data.features, synthetic_dataset(42).features)
    assert not np.array_equal(data.features, synthetic_dataset(43).features)
    sites = split_hospitals(data, 10, seed=1)
    assert sum(h.y_train.size + h.y_test.size for h in sites) == 569
    assert len({h.weight for h in sites}) > 1  # unequal hospitals, so weights matter
    for h in sites:
        assert np.allclose(h.x_train[:, :-1].mean(axis=0), 0, atol=1e-9)  # local standardising
        assert np.all(h.x_train[:, -1] == 1)  # the bias column
    with pytest.raises(ParameterError, match="too few"):
        split_hospitals(data, 200, seed=1)


def test_dataset_choice_with_and_without_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert "synthetic" in load_dataset("auto", 1).source
    with pytest.raises(ParameterError, match="scikit-learn"):
        load_dataset("breast-cancer")
    with pytest.raises(ParameterError, match="unknown dataset"):
        load_dataset("iris")
    fake = types.ModuleType("sklearn.datasets")
    rows = np.arange(60.0).reshape(20, 3)
    fake.load_breast_cancer = lambda: types.SimpleNamespace(  # type: ignore[attr-defined]
        data=rows, target=np.arange(20) % 2
    )
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", fake)
    data = load_dataset("auto")
    assert "breast cancer" in data.source and data.features.shape == (20, 3)
    assert load_dataset("synthetic", 3).features.shape == (569, 30)


# ---------------------------------------------------------------------------------------- bench


def test_bench_compares_with_phe() -> None:
    pytest.importorskip("phe")
    code, report = run_cli("bench", *TEST_KEY, "--repeat", "1")
    assert code == 0, report
    assert "phe/heprim" in report
    for operation in ("encrypt (DJN)", "encrypt (key holder)", "decrypt", "add", "mul"):
        row = next(line for line in report.splitlines() if line.startswith(operation))
        heprim_ms, phe_ms, ratio = row[len(operation) :].split()
        assert float(heprim_ms) > 0 and float(phe_ms) > 0
        assert ratio.endswith("x") and float(ratio[:-1]) > 0


def test_bench_without_phe_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "phe", None)  # makes `import phe` raise ImportError
    code, report = run_cli("bench", *TEST_KEY, "--repeat", "1")
    assert code == 0, report
    assert "phe not installed: heprim only" in report
    assert "phe/heprim" not in report
    assert any(line.startswith("decrypt") for line in report.splitlines())


# --------------------------------------------------------------------------------------- keygen


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_only_the_public_key_by_default(tmp_path: Path) -> None:
    from heprim.paillier import PublicKey
    from heprim.serialize import loads

    prefix = tmp_path / "alice"
    code, report = run_cli("keygen", "--out", str(prefix), *TEST_KEY)
    assert code == 0, report
    public_key = loads((tmp_path / "alice.pub.json").read_text())
    assert isinstance(public_key, PublicKey)
    assert public_key.n.bit_length() == 1024
    assert public_key.fingerprint in report
    assert not (tmp_path / "alice.key.json").exists()
    assert "secret key not written" in report
    assert "secret" not in json.loads((tmp_path / "alice.pub.json").read_text())


def test_keygen_include_secret_writes_a_0600_key_that_matches(tmp_path: Path) -> None:
    from heprim.paillier import PrivateKey
    from heprim.serialize import loads

    prefix = tmp_path / "bob"
    code, report = run_cli("keygen", "--out", str(prefix), "--include-secret", *TEST_KEY)
    assert code == 0, report
    secret_path = tmp_path / "bob.key.json"
    assert _mode(secret_path) == 0o600
    private_key = loads(secret_path.read_text())
    public_key = loads((tmp_path / "bob.pub.json").read_text())
    assert isinstance(private_key, PrivateKey)
    assert private_key.public_key == public_key
    assert private_key.decrypt(public_key.encrypt(-12345)) == -12345


def test_keygen_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "carol"
    (tmp_path / "carol.pub.json").write_text("precious")
    code, _ = run_cli("keygen", "--out", str(prefix), *TEST_KEY)
    assert code == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "carol.pub.json").read_text() == "precious"

    # An existing secret key blocks --include-secret too, before anything is written.
    (tmp_path / "carol.pub.json").unlink()
    (tmp_path / "carol.key.json").write_text("precious secret")
    code, _ = run_cli("keygen", "--out", str(prefix), "--include-secret", *TEST_KEY)
    assert code == 1
    assert not (tmp_path / "carol.pub.json").exists()
    assert (tmp_path / "carol.key.json").read_text() == "precious secret"


def test_keygen_force_replaces_and_tightens_permissions(tmp_path: Path) -> None:
    prefix = tmp_path / "dave"
    secret_path = tmp_path / "dave.key.json"
    secret_path.write_text("old")
    secret_path.chmod(0o644)
    (tmp_path / "dave.pub.json").write_text("old")
    code, report = run_cli("keygen", "--out", str(prefix), "--include-secret", "--force", *TEST_KEY)
    assert code == 0, report
    assert _mode(secret_path) == 0o600
    assert secret_path.read_text() != "old"
    assert (tmp_path / "dave.pub.json").read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dave.key.json", "dave.pub.json"]


def test_keygen_into_a_missing_directory_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_cli("keygen", "--out", str(tmp_path / "nowhere" / "k"), *TEST_KEY)
    assert code == 1
    assert "does not exist" in capsys.readouterr().err


def test_keygen_reports_a_file_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import heprim.cli.keygen as keygen

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keygen, "write_file", disk_full)
    code, report = run_cli("keygen", "--out", str(tmp_path / "erin"), *TEST_KEY)
    assert code == 1
    assert "cannot write the key" in capsys.readouterr().err
    assert "public key  ->" not in report


def test_write_file_mode_survives_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        write_file(tmp_path / "s.json", "{}", mode=0o600, force=False)
        write_file(tmp_path / "s.json", "{ }", mode=0o600, force=True)
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "s.json") == 0o600
    assert (tmp_path / "s.json").read_text() == "{ }"
    with pytest.raises(FileExistsError):
        write_file(tmp_path / "s.json", "{}", mode=0o600, force=False)


# ------------------------------------------------------------------------------------- progress


def test_plain_progress_reports_each_quarter_once() -> None:
    out = io.StringIO()
    reporter = Reporter(out, bars=False)
    with reporter.progress("work") as progress:
        for done in range(1, 101):
            progress(done, 100)
    lines = out.getvalue().splitlines()
    assert [re.search(r"\((\d+)%", line).group(1) for line in lines] == ["25", "50", "75", "100"]  # type: ignore[union-attr]


def test_plain_progress_jumping_to_the_end_reports_once() -> None:
    out = io.StringIO()
    with Reporter(out, bars=False).progress("work") as progress:
        progress(7, 7)
    assert out.getvalue().count("\n") == 1
    assert "7/7 (100%" in out.getvalue()


def test_bars_are_chosen_only_for_a_terminal() -> None:
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Reporter(io.StringIO())._tqdm is None
    terminal = Terminal()
    reporter = Reporter(terminal)
    assert reporter._tqdm is not None
    with reporter.progress("work") as progress:
        progress(5, 10)
        progress(10, 10)
    assert "work" in terminal.getvalue()


def test_without_tqdm_a_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the `cli` extra is not installed

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    reporter = Reporter(terminal)
    assert reporter._tqdm is None
    with reporter.progress("work") as progress:
        progress(2, 2)
    assert "work: 2/2 (100%" in terminal.getvalue()


# --------------------------------------------------------------------------------------- README


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def _run_example(code: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Execute a documented example; each ``print(...)  # text`` line must print ``text``."""
    exec(compile(code, name, "exec"), {"__name__": "example"})
    printed = capsys.readouterr().out.splitlines()
    promised = re.findall(r"^print\(.*#\s*(.+)$", code, flags=re.MULTILINE)
    assert promised, f"the example in {name} promises no output to check"
    assert printed == [p.strip() for p in promised]


def test_readme_example_runs_and_prints_what_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _readme(), flags=re.DOTALL)
    assert len(blocks) == 1, "the README should have exactly one python example"
    assert len(blocks[0].strip().splitlines()) <= 10, "the README promises a 10-line example"
    _run_example(blocks[0], "README.md", capsys)


def test_docs_front_page_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "index.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1
    _run_example(blocks[0], "docs/index.md", capsys)


def test_readme_commands_are_the_ones_ci_runs() -> None:
    readme = _readme()
    demo = (
        'python3 -m venv .venv && . .venv/bin/activate && pip install ".[cli,ml]" && '
        "python -m heprim demo"
    )
    tests = (
        'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test,peers]" && '
        "python -m pytest"
    )
    commands = re.findall(r"```console\n(.*?)\n```", readme, flags=re.DOTALL)
    assert commands[:2] == [demo, tests], "the README must open with these two commands"
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_bfv_params_lists_every_preset_with_its_security() -> None:
    from heprim.bfv import PRESETS

    code, report = run_cli("bfv-params")
    assert code == 0
    for name in PRESETS:
        assert name in report
    assert report.count("128-bit") == len(PRESETS)


def test_system_errors_are_reported_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A port already taken (or any refusal of the operating system) is one error line."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["secagg", "serve", "--listen", f"127.0.0.1:{port}", "--clients", "5", "--dim", "4"]
        assert main(argv, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
    assert "address already in use" in err.lower() or "errno" in err.lower()
