"""The command under hostile conditions: bad arguments, output that cannot be written, user
code that prints or exits, and signals."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcheck_xor import check_backward, cli, model
from gradcheck_xor._cli_common import byte_size
from gradcheck_xor.quickcheck import check_point

RIGHT_BACKWARD = """
def backward(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": dZ2.sum(axis=1, keepdims=True)}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``gradcheck-xor ARGV...`` in-process: its exit code (argparse's own errors included,
    which exit through SystemExit), stdout and stderr."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def command(*argv: str) -> list[str]:
    """The installed command, as a user runs it."""
    return [sys.executable, "-m", "gradcheck_xor", *argv]


# --- bad arguments: one line, exit 2, before any work ----------------------------------------

# (argv, words the one line must hold); {tmp} is the test's own directory.
BAD_ARGUMENTS = {
    "notebook-negative-seed": (["notebook", "--seed", "-1"], "--seed: got -1, expected an integer in [0, 4"),
    "notebook-seed-past-2**32": (["notebook", "--seed", str(2**32)], "--seed: got 4294967296"),
    "notebook-nan-lr": (["notebook", "--lr", "nan"], "--learning-rate: got nan, expected a finite number."),
    "notebook-zero-lr": (["notebook", "--lr", "0"], "--learning-rate: got 0.0, expected a positive number."),
    "notebook-negative-lr": (["notebook", "--lr", "-0.5"], "--learning-rate: got -0.5, expected a positive"),
    "notebook-overflowing-lr": (["notebook", "--lr", "1e999"], "--learning-rate: got inf, expected a finite"),
    "notebook-too-many-steps": (["notebook", "--steps", "100000001"], "in [1, 100000000]"),
    "notebook-steps-not-an-integer": (["notebook", "--steps", "1e3"], "invalid int value: '1e3'"),
    "notebook-unknown-option": (["notebook", "--steps", "5", "--frobnicate"], "unrecognized arguments"),
    "train-zero-steps": (["train", "--steps", "0"], "--steps: got 0, expected a positive integer."),
    "train-infinite-lr": (["train", "--learning-rate=-inf"], "--learning-rate: got -inf, expected a finite"),
    "train-huge-seed": (["train", "--seed", "99999999999"], "--seed: got 99999999999"),
    "train-seed-and-params": (["train", "--seed", "1", "--params", "p.json"], "not allowed with argument"),
    "train-save-suffix": (["train", "--save", "{tmp}/out.txt"], "--save: got '{tmp}/out.txt', expected"),
    "train-save-is-a-directory": (["train", "--save", "{tmp}/folder.json"], "is a directory"),
    "train-save-nowhere": (["train", "--save", "{tmp}/no/such/out.json"], "no directory {tmp}/no/such"),
    "train-plot-suffix": (["train", "--plot", "{tmp}/out.svg"], "expected a file name ending in .png"),
    "train-plot-is-a-directory": (["train", "--plot", "{tmp}/folder.png"], "is a directory"),
    "train-plot-nowhere": (["train", "--plot", "{tmp}/no/such/out.png"], "no directory {tmp}/no/such"),
    "compare-too-many-steps": (["compare", "--steps", "100001"], "expected an integer in [1, 100000]"),
    "compare-zero-lr": (["compare", "--lr", "0"], "--learning-rate: got 0.0, expected a positive number."),
    "sweep-too-many-seeds": (["sweep", "--seeds", "1000001"], "--seeds: got 1000001"),
    "sweep-seeds-past-2**32": (["sweep", "--first-seed", str(2**32 - 1), "--seeds", "2"], "..4294967296"),
    "sweep-negative-first-seed": (["sweep", "--first-seed", "-1"], "expected seeds in [0, 4294967295]"),
    "sweep-nan-init-scale": (["sweep", "--init-scale", "nan"], "--init-scale: got nan, expected a finite"),
    "sweep-infinite-init-bias": (["sweep", "--init-bias", "inf"], "--init-bias: got inf, expected a finite"),
    "sweep-negative-lr": (["sweep", "--lr", "-1"], "--learning-rate: got -1.0, expected a positive number."),
    "check-negative-seed": (["check", "--seed", "-3"], "--seed: got -3, expected an integer in [0, "),
    "check-unknown-loss": (["check", "--loss", "hinge"], "invalid choice: 'hinge'"),
    "diagnose-size-not-a-size": (["diagnose", "--max-file-size", "12Q", "p.json"], "got '12Q', expected"),
    "diagnose-size-zero": (["diagnose", "--max-file-size", "0", "p.json"], "--max-file-size: got 0,"),
    "train-size-negative": (["train", "--max-file-size=-5"], "got '-5', expected a size in bytes"),
    "train-size-empty": (["train", "--max-file-size="], "got '', expected a size in bytes"),
    "train-size-in-kb": (["train", "--max-file-size=64KB"], "got '64KB', expected a size in bytes"),
}  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "folder.png").mkdir()
    return tmp_path


@pytest.mark.parametrize(("argv", "words"), BAD_ARGUMENTS.values(), ids=list(BAD_ARGUMENTS))
def test_a_bad_argument_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], workdir: Path, argv: list[str], words: str
) -> None:
    argv = [a.format(tmp=workdir) for a in argv]
    started = time.monotonic()
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    # argparse reports an unrecognised argument for the whole command line
    assert err.startswith((f"gradcheck-xor {argv[0]}: error: ", "gradcheck-xor: error: "))
    assert words.format(tmp=workdir) in err
    assert "Traceback" not in err
    assert time.monotonic() - started < 60  # refused before any work (a generous bound)


@pytest.mark.parametrize(
    "argv",
    [
        ["notebook", "--lr", "nan"],
        ["train", "--steps", "100000001"],
        ["sweep", "--seeds", "0"],
        ["check", "--seed", "x"],
    ],
    ids=["notebook-nan-lr", "train-too-many-steps", "sweep-no-seeds", "check-seed-not-a-number"],
)
def test_the_installed_command_refuses_bad_arguments_in_one_line(argv: list[str]) -> None:
    done = subprocess.run(command(*argv), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"gradcheck-xor {argv[0]}: error: ")


def test_a_bad_argument_under_json_is_also_one_object_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "train", "--lr", "0", "--json")
    assert code == 2
    assert json.loads(out) == {"ok": False, "error": "--learning-rate: got 0.0, expected a positive number."}
    assert err == "gradcheck-xor train: error: --learning-rate: got 0.0, expected a positive number.\n"


@pytest.mark.parametrize(
    ("text", "size"), [("65536", 65536), ("64K", 2**16), ("64M", 64 * 2**20), ("1g", 2**30), (" 7 ", 7)]
)
def test_a_file_size_takes_an_optional_binary_suffix(text: str, size: int) -> None:
    assert byte_size(text) == size


@pytest.mark.parametrize(
    "argv",
    [["diagnose"], ["check", "--params"], ["compare", "--params"], ["train", "--steps", "1", "--params"]],
    ids=["diagnose", "check", "compare", "train"],
)
def test_every_command_that_reads_a_parameter_file_takes_its_size_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    path = tmp_path / "start.json"
    path.write_text(json.dumps({k: v.tolist() for k, v in model.init_params(0, bias=0.1).items()}))
    size = path.stat().st_size
    code, out, err = run(capsys, *argv, str(path), "--max-file-size", str(size - 1), "--json")
    assert code == 2
    assert f"the file is {size} bytes, more than the limit of {size - 1} bytes" in err
    assert json.loads(out)["ok"] is False and err.count("\n") == 1
    if argv[0] != "compare":  # compare would go on to import PyTorch and JAX
        code, out, _ = run(capsys, *argv, str(path), "--max-file-size", f"{size}", "--json")
        assert code in (0, 1) and "error" not in json.loads(out)


# Any string as a numeric option's value: a run (tiny, so fast), or a refusal in one line.
FAST = {
    "notebook": ["notebook", "--steps", "3"],
    "train": ["train", "--steps", "3", "--json"],
    "check": ["check", "--fast", "--json"],
    "sweep": ["sweep", "--seeds", "2", "--steps", "2", "--json"],
}
NUMERIC_OPTIONS = [
    ("notebook", "--seed"),
    ("notebook", "--steps"),
    ("notebook", "--learning-rate"),
    ("train", "--seed"),
    ("train", "--steps"),
    ("train", "--lr"),
    ("check", "--seed"),
    ("sweep", "--seeds"),
    ("sweep", "--first-seed"),
    ("sweep", "--steps"),
    ("sweep", "--lr"),
    ("sweep", "--init-scale"),
    ("sweep", "--init-bias"),
]
NUMBER_LIKE = st.one_of(
    st.text(max_size=12),
    st.integers().map(str),
    st.floats().map(repr),
    st.sampled_from(["nan", "-inf", "1e309", "1e-320", "0x10", "1_0", " 2 ", "-0", "+3", "٣", "1e300"]),
)


def _long_run(option: str, value: str) -> bool:
    """Whether ``value`` would make a run too long for a property test (a valid count > 20)."""
    if option not in ("--steps", "--seeds"):
        return False
    try:
        return int(value) > 20
    except ValueError:
        return False


@pytest.mark.parametrize(("name", "option"), NUMERIC_OPTIONS, ids=[f"{c} {o}" for c, o in NUMERIC_OPTIONS])
@given(value=NUMBER_LIKE)
# capsys is shared by the examples, and fine so: run() reads (and so empties) it every time.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_value_of_a_numeric_option_runs_or_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], name: str, option: str, value: str
) -> None:
    assume(not _long_run(option, value))
    code, out, err = run(capsys, *FAST[name], f"{option}={value}")
    assert code in (0, 1, 2)
    assert "Traceback" not in err + out
    if code == 2:
        assert err.count("\n") == 1 and err.startswith(f"gradcheck-xor {name}: error: ")
    elif "--json" in FAST[name]:
        json.loads(out)  # one object, whatever the value did to the numbers


# --- outputs that cannot be written ---------------------------------------------------------


def test_stdout_on_a_full_disk_ends_with_one_line_and_a_failing_status() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            command("notebook", "--steps", "10"), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert done.returncode == 2
    assert done.stderr == "gradcheck-xor notebook: error: cannot write the output: No space left on device.\n"


def test_a_closed_pipe_ends_the_command_quietly_with_a_failing_status() -> None:
    proc = subprocess.Popen(command("check"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` that has stopped reading
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141  # 128 + SIGPIPE, what a shell reports for a killed writer
    assert err == b""


def test_saving_to_a_full_disk_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "trained.json"
    target.symlink_to("/dev/full")  # passes every check made before training; the write fails
    code, out, err = run(capsys, "train", "--steps", "5", "--save", str(target))
    assert code == 2
    assert err == f"gradcheck-xor train: error: --save: cannot write {target}: No space left on device.\n"
    assert "Traceback" not in out


def test_a_plot_on_a_full_disk_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "run.png"
    target.symlink_to("/dev/full")
    code, _, err = run(capsys, "train", "--steps", "5", "--json", "--plot", str(target))
    assert code == 2
    assert err == f"gradcheck-xor train: error: --plot: cannot write {target}: No space left on device.\n"


# --- the user's code, run by check ------------------------------------------------------------


def test_check_json_keeps_stdout_one_object_whatever_the_users_code_prints(tmp_path: Path) -> None:
    # Everything at import and at call: print, a write to fd 1 (as C code does), a child process.
    noisy = tmp_path / "noisy.py"
    noisy.write_text(
        "import os, subprocess, sys\n"
        "print('printed at import')\n"
        "os.write(1, b'fd 1 at import\\n')\n"
        "subprocess.run([sys.executable, '-c', 'print(\"a child at import\")'], check=True)\n"
        "calls = 0\n"
        + RIGHT_BACKWARD.replace(
            "    m = X.shape[1]\n",
            "    m = X.shape[1]\n"
            "    global calls\n"
            "    if calls == 0:\n"
            "        print('printed at call')\n"
            "        os.write(1, b'fd 1 at call\\n')\n"
            "        sys.stdout.write('unfinished line')\n"
            "    calls += 1\n",
        )
    )
    done = subprocess.run(
        command("check", f"{noisy}:backward", "--json", "--run-file"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # fails on any stray text
    assert report["ok"] and report["verdict"] == "ok"
    for line in (
        "printed at import",
        "fd 1 at import",
        "a child at import",
        "printed at call",
        "fd 1 at call",
    ):
        assert line in done.stderr
    assert "unfinished line" in done.stderr


def test_in_process_check_json_sends_the_users_prints_to_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    noisy = tmp_path / "noisy.py"
    noisy.write_text(
        "print('hello from import')\n" + RIGHT_BACKWARD.replace("    m =", "    print('hi')\n    m =")
    )
    code, out, err = run(capsys, "check", f"{noisy}:backward", "--json", "--run-file")
    assert code == 0
    assert json.loads(out)["verdict"] == "ok"
    assert "hello from import" in err and "hi" in err


EXITS = {
    "sys.exit(0)": "sys.exit(0)",
    "sys.exit()": "sys.exit()",
    "SystemExit(3)": "raise SystemExit(3)",
    "GeneratorExit": "raise GeneratorExit('stop')",
    "BaseException subclass": "raise type('Abort', (BaseException,), {})('abort')",
}


@pytest.mark.parametrize("statement", EXITS.values(), ids=list(EXITS))
@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_a_backward_that_exits_is_reported_as_raised_never_as_a_pass(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, statement: str, fast: bool
) -> None:
    path = tmp_path / "exiting.py"
    path.write_text(f"import sys\n\ndef backward(parameters, A1, A2, X, Y):\n    {statement}\n")
    code, out, _ = run(capsys, "check", f"{path}:backward", "--json", *(["--fast"] if fast else []))
    assert code == 1
    report = json.loads(out)
    assert report["verdict"] == "raised" and not report["ok"]


def test_the_oracle_reports_sys_exit_in_a_backward_as_raised() -> None:
    def backward(parameters: object, A1: object, A2: object, X: object, Y: object) -> None:
        sys.exit(0)

    report = check_backward(backward)
    assert report.verdict == "raised"
    assert "SystemExit" in report.explain()
    point = check_point(backward, model.init_params(0, bias=0.1))
    assert not point.ok and point.problem is not None and point.problem["type"] == "SystemExit"


def test_a_file_that_exits_at_import_is_an_unusable_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsys.exit(0)\n")
    code, out, err = run(capsys, "check", f"{path}:backward", "--json", "--run-file")
    assert code == 2
    assert json.loads(out)["error"] == f"{path}: running it raised SystemExit: 0"
    assert err == f"gradcheck-xor check: error: {path}: running it raised SystemExit: 0\n"


def test_only_an_interrupt_from_the_users_code_interrupts_the_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "interrupted.py"
    path.write_text("def backward(parameters, A1, A2, X, Y):\n    raise KeyboardInterrupt\n")
    code, out, err = run(capsys, "check", f"{path}:backward")
    assert (code, out, err) == (130, "", "interrupted\n")


# --- signals ----------------------------------------------------------------------------------

SLOW_BACKWARD = """
import sys, time

def backward(parameters, A1, A2, X, Y):
    print("started", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def sigint_delivered() -> Iterator[None]:
    """A child inherits an ignored SIGINT (this process started in the background of a
    script, say) and then keeps ignoring it, as Python does: make sure it is not ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _session_members(session: int) -> list[int]:
    """The processes of a session, read from /proc (a child left behind would still be there)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rpartition(")")[2].split()  # after "(comm)": state, ppid, pgrp, session, ...
        if int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def _started(proc: subprocess.Popen[bytes]) -> None:
    """Wait until the command has printed its first line (it runs main by then)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    assert ready and proc.stdout.readline(), "the command printed nothing"


@pytest.mark.usefixtures("sigint_delivered")
@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
@pytest.mark.parametrize("name", ["notebook", "train", "check"])
def test_a_signal_ends_the_command_within_a_second_or_two_with_nothing_left_running(
    tmp_path: Path, name: str, signum: int, status: int
) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text(SLOW_BACKWARD)
    argv = {
        "notebook": ["notebook", "--steps", "100000000"],
        "train": ["train", "--steps", "100000000"],
        "check": ["check", f"{slow}:backward"],
    }[name]
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "gradcheck_xor", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own session: whatever it starts can be found afterwards
    )
    try:
        _started(proc)
        time.sleep(0.3)  # into the work: training steps, or the user's sleeping backward
        proc.send_signal(signum)
        sent = time.monotonic()
        proc.wait(timeout=30)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, err = proc.communicate()
    assert proc.returncode == status
    assert err.decode().splitlines()[-1] == "interrupted"
    assert b"Traceback" not in err
    assert waited < 2.0
    assert _session_members(proc.pid) == []


def test_the_sigterm_handler_is_put_back_after_main(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    run(capsys, "notebook", "--steps", "2")
    assert signal.getsignal(signal.SIGTERM) is before
