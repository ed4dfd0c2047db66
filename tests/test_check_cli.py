"""``gradcheck-xor check``: verdicts and tables, JSON, and unusable targets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_command

from gradcheck_xor import model

RIGHT = """
import numpy as np


def backward(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": np.sum(dZ1, axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": np.sum(dZ2, axis=1, keepdims=True)}


def summed(parameters, A1, A2, X, Y):
    return {key: X.shape[1] * value for key, value in backward(parameters, A1, A2, X, Y).items()}


NOT_A_FUNCTION = 3
"""


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_backward.py"
    path.write_text(RIGHT)
    return path


run = partial(run_command, "check")


def test_the_notebooks_backward_is_checked_by_default_and_named_half_mse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys)
    assert code == 1
    assert out.startswith(
        "gradcheck-xor check: gradcheck_xor.notebook:backword_propagation\nmatches-other-loss: "
    )
    assert "half the mean squared error through the sigmoid" in " ".join(out.split())
    assert "ReLU kink at notebook-init: Z1 = 0 for sample 0 (x = (0, 0)), units 0, 1" in out
    table = out.split("Per-element table, worst first:\n")[1].splitlines()
    assert table[0].split() == [
        "point",
        "Y",
        "element",
        "analytic",
        "exact",
        "numeric",
        "abs",
        "err",
        "rel",
        "err",
        "tol",
        "method",
    ]
    # Every (point, element) is there: once when both label layouts agree.
    assert len(table) - 1 == 5 * 9
    assert err == ""


def test_a_right_backward_in_a_file_exits_0(capsys: pytest.CaptureFixture[str], user_file: Path) -> None:
    code, out, _ = run(capsys, f"{user_file}:backward")
    assert code == 0
    assert "\nok: The backward matches the exact gradient of the mean binary cross-entropy" in out
    assert "relu'(0) = 0 (like torch.nn.functional.relu and jax.nn.relu)" in out


def test_a_wrong_backward_in_a_file_exits_1_with_its_verdict(
    capsys: pytest.CaptureFixture[str], user_file: Path
) -> None:
    code, out, _ = run(capsys, f"{user_file}:summed")
    assert code == 1
    assert "scaled: Every element is 4 x the right gradient (= m" in out


def test_json_is_one_object_on_stdout(capsys: pytest.CaptureFixture[str], user_file: Path) -> None:
    code, out, err = run(capsys, f"{user_file}:summed", "--json")
    data = json.loads(out)
    assert code == 1 and err == ""
    assert data["source"] == f"{user_file}:summed"
    assert (data["ok"], data["verdict"], data["details"]["factor"]) == (False, "scaled", 4.0)
    assert len(data["elements"]) == 90
    assert set(data["elements"][0]) == {
        "point", "labels", "element", "analytic", "exact", "numeric", "abs_error", "rel_error", "tolerance",
        "ok", "method", "note",
    }  # fmt: skip
    # Both columns, and the tolerance each element was judged with.
    rows = [row for row in data["elements"] if row["method"].startswith("exact")]
    assert rows and all(row["tolerance"] < 1e-8 for row in rows)
    assert all(abs(row["exact"] - row["numeric"]) < 1e-7 for row in rows)


def test_the_loss_option_changes_what_is_differentiated(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--loss", "half-mse")
    assert code == 0 and "\nok: " in out


def test_fast_mode_passes_a_right_backward(capsys: pytest.CaptureFixture[str], user_file: Path) -> None:
    code, out, _ = run(capsys, f"{user_file}:backward", "--fast", "--json")
    data = json.loads(out)
    assert code == 0 and data["fast"] and data["elements"][0]["element"] == "random direction"


def test_a_parameter_file_sets_the_point_and_data(
    capsys: pytest.CaptureFixture[str], user_file: Path, tmp_path: Path
) -> None:
    params = model.init_params(4, bias=0.2)
    path = tmp_path / "point.json"
    path.write_text(json.dumps({k: v.tolist() for k, v in params.items()}))
    code, out, _ = run(capsys, f"{user_file}:backward", "--params", str(path), "--json")
    data = json.loads(out)
    assert code == 0
    assert [p["name"] for p in data["points"]] == ["given"]
    np.testing.assert_array_equal(data["points"][0]["params"]["W1"], params["W1"])


def test_a_file_that_imports_its_neighbours_is_loaded_as_a_script_would_be(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "helpers.py").write_text(RIGHT)
    (tmp_path / "main.py").write_text("from helpers import backward\n")
    code, _, _ = run(capsys, f"{tmp_path / 'main.py'}:backward")
    assert code == 0
    assert str(tmp_path) not in sys.path  # put back as it was


UNUSABLE = {
    "no colon": ("{dir}/my_backward.py", "{dir}/my_backward.py: expected path/to/file.py:function."),
    "missing file": ("{dir}/nowhere.py:backward", "{dir}/nowhere.py: no such file."),
    "not a python file": (
        "{dir}/notes.txt:backward",
        "{dir}/notes.txt: expected a Python file (.py) or a notebook (.ipynb).",
    ),
    "no such function": (
        "{dir}/my_backward.py:backwards",
        "{dir}/my_backward.py: no function 'backwards' (it defines: backward, summed).",
    ),
    "not callable": (
        "{dir}/my_backward.py:NOT_A_FUNCTION",
        "{dir}/my_backward.py: 'NOT_A_FUNCTION' is not a function (its type is int).",
    ),
    "syntax error": (
        "{dir}/broken.py:backward",
        "{dir}/broken.py: running it raised SyntaxError: invalid syntax (broken.py, line 1)",
    ),
    "raises on import": (
        "{dir}/raising.py:backward",
        "{dir}/raising.py: running it raised ModuleNotFoundError: No module named 'no_such_module'",
    ),
    # Top-level statements are not run (only imports, definitions and constants): no backward.
    "exits on import": (
        "{dir}/exiting.py:backward",
        "{dir}/exiting.py: no function 'backward' (it defines: no functions).",
    ),
}


@pytest.mark.parametrize(("target", "message"), UNUSABLE.values(), ids=list(UNUSABLE))
def test_an_unusable_target_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], user_file: Path, target: str, message: str
) -> None:
    folder = user_file.parent
    (folder / "notes.txt").write_text("not python")
    (folder / "broken.py").write_text("def backward(:\n")
    (folder / "raising.py").write_text("import no_such_module\n")
    (folder / "exiting.py").write_text("import sys\nsys.exit(3)\n")
    code, out, err = run(capsys, target.format(dir=folder))
    assert code == 2
    assert out == ""
    assert err == f"gradcheck-xor check: error: {message.format(dir=folder)}\n"


def test_an_unusable_target_with_json_still_prints_one_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, f"{tmp_path}/nowhere.py:f", "--json")
    assert code == 2
    assert json.loads(out) == {
        "source": f"{tmp_path}/nowhere.py:f",
        "ok": False,
        "error": f"{tmp_path}/nowhere.py: no such file.",
    }
    assert err.count("\n") == 1


def test_an_unusable_parameter_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"W1": [[1, 2]], "b1": [0, 0], "W2": [[1, 1]], "b2": 0}))
    code, _, err = run(capsys, "--params", str(path))
    assert code == 2
    assert err.startswith(f"gradcheck-xor check: error: {path}: key 'W2' has shape (1, 2)")
    assert err.count("\n") == 1


def test_the_installed_command_reports_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "raising.py").write_text(
        textwrap.dedent(
            """
            def backward(parameters, A1, A2, X, Y):
                return {"dW1": parameters["w1"]}
            """
        )
    )
    outputs = {}
    for target, expected in [(f"{tmp_path / 'raising.py'}:backward", 1), ("/no/such.py:f", 2)]:
        done = subprocess.run(
            [sys.executable, "-m", "gradcheck_xor", "check", target],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == expected
        assert "Traceback" not in done.stdout + done.stderr
        outputs[expected] = done
    assert "\nraised: backward raised KeyError: 'w1' (at point notebook-init" in outputs[1].stdout
    assert outputs[2].stderr == "gradcheck-xor check: error: /no/such.py: no such file.\n"


# --- any network: a parameter file, a data file and the options ---------------------------------

CS231N = """
import numpy as np


def loss_grads(params, X, y):
    # Samples in rows, softmax over the classes, as cs231n's two-layer net has it.
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    h = np.maximum(0, X @ W1 + b1)
    scores = h @ W2 + b2
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(N), y.astype(int)] -= 1
    dscores /= N
    dh = dscores @ W2.T * (h > 0)
    return {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ dscores, "b2": dscores.sum(axis=0)}


def transposed(params, X, y):
    grads = loss_grads(params, X, y)
    grads["W1"] = grads["W1"].T
    return grads


def regularised(params, X, y, reg):
    return loss_grads(params, X, y)
"""


@pytest.fixture
def rows_network(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A 3-5-3 network with samples in rows, its data (classes), and a file of backward passes."""
    rng = np.random.default_rng(4)
    params = {
        "W1": rng.normal(size=(3, 5)),
        "b1": rng.normal(size=5),
        "W2": rng.normal(size=(5, 3)),
        "b2": np.zeros(3),
    }
    (tmp_path / "net.json").write_text(json.dumps({k: v.tolist() for k, v in params.items()}))
    data = {"X": rng.normal(size=(6, 3)).tolist(), "Y": [0, 1, 2, 1, 0, 2]}
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "cs231n.py").write_text(CS231N)
    return tmp_path / "net.json", tmp_path / "data.json", tmp_path / "cs231n.py"


def test_a_rows_network_with_softmax_is_checked_from_its_files(
    capsys: pytest.CaptureFixture[str], rows_network: tuple[Path, Path, Path]
) -> None:
    net, data, code = rows_network
    args = ("--params", str(net), "--data", str(data), "--output", "softmax", "--json")
    status, out, _ = run(capsys, f"{code}:loss_grads", *args)
    report = json.loads(out)
    assert status == 0, report["explanation"]
    assert report["network"] == "3-5-3 network (relu hidden, softmax output, cross-entropy loss, rows layout)"
    assert report["layouts"] == ["(m,)"]  # the integer classes, as the data file holds them
    status, out, _ = run(capsys, f"{code}:transposed", *args[:-1])
    assert status == 1
    assert "shape-mismatch: dW1 has shape (5, 3), expected (3, 5)" in out


def test_a_function_taking_what_the_oracle_cannot_supply_is_unusable(
    capsys: pytest.CaptureFixture[str], rows_network: tuple[Path, Path, Path]
) -> None:
    net, data, code = rows_network
    status, out, err = run(
        capsys, f"{code}:regularised", "--params", str(net), "--data", str(data), "--output", "softmax"
    )
    assert status == 2 and out == ""
    assert err.startswith(
        f"gradcheck-xor check: error: {code}:regularised: regularised takes 'reg', which the oracle"
    )
    assert "call=" in err and err.count("\n") == 1


# --- tolerances and signatures ------------------------------------------------------------------

SLIGHTLY_OFF = """
import numpy as np


def backward(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = (A2 - Y.reshape(1, m)) / m * (1 + 1e-7)  # right to 1e-7: what a float32 step leaves
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": np.sum(dZ1, axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": np.sum(dZ2, axis=1, keepdims=True)}


def needs_more(parameters, A1, A2, X, Y, *, reg):
    return backward(parameters, A1, A2, X, Y)
"""


@pytest.fixture
def off_file(tmp_path: Path) -> Path:
    path = tmp_path / "off.py"
    path.write_text(SLIGHTLY_OFF)
    return path


def test_a_backward_right_to_1e7_fails_and_atol_rtol_accept_it(
    capsys: pytest.CaptureFixture[str], off_file: Path
) -> None:
    code, out, _ = run(capsys, f"{off_file}:backward")
    assert code == 1
    assert "mismatch: The backward is right to 1e-07 relative, not to float64's precision" in out
    code, out, _ = run(capsys, f"{off_file}:backward", "--rtol", "1e-6", "--json")
    data = json.loads(out)
    assert code == 0 and data["details"]["tolerances"] == {"rtol": 1e-6}
    assert all(row["tolerance"] >= 1e-6 * abs(row["exact"]) for row in data["elements"])
    code, _, _ = run(capsys, f"{off_file}:backward", "--atol", "1e-6")
    assert code == 0


@pytest.mark.parametrize("value", ["-1e-3", "nan", "inf"])
@pytest.mark.parametrize("option", ["--rtol", "--atol"])
def test_a_bad_tolerance_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    code, out, err = run(capsys, f"{option}={value}")
    assert code == 2 and out == ""
    assert (
        err == f"gradcheck-xor check: error: {option}: got {float(value)}, expected a finite number >= 0.\n"
    )


def test_a_signature_that_cannot_be_bound_is_an_unusable_target(
    capsys: pytest.CaptureFixture[str], off_file: Path
) -> None:
    code, out, err = run(capsys, f"{off_file}:needs_more")
    assert code == 2 and out == ""
    assert err.startswith(
        f"gradcheck-xor check: error: {off_file}:needs_more: needs_more(parameters, A1, A2, X, Y, *, reg) "
        "cannot be called as needs_more(params, A1, A2, X, Y): missing a required argument: 'reg'."
    )
    assert "positionally as the notebook's (parameters, A1, A2, X, Y)" in err and err.count("\n") == 1


REGRESSION = """
import numpy as np


def grads(x, y, w1, w2):
    h = 1 / (1 + np.exp(-x @ w1))
    g = h @ w2 - y  # written for labels (m, 1): labels (m,) do not fit the product below
    return {"w1": x.T @ (g @ w2.T * h * (1 - h)), "w2": h.T @ g}


def halved(x, y, w1, w2):
    return {k: v / 2 for k, v in grads(x, y, w1, w2).items()}
"""


@pytest.fixture
def regression(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A 3-4-1 regression network without biases, samples in rows, labels (m, 1)."""
    rng = np.random.default_rng(5)
    params = {"w1": rng.normal(size=(3, 4)).tolist(), "w2": rng.normal(size=(4, 1)).tolist()}
    (tmp_path / "net.json").write_text(json.dumps(params))
    data = {"X": rng.normal(size=(6, 3)).tolist(), "Y": rng.normal(size=(6, 1)).tolist()}
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "regression.py").write_text(REGRESSION)
    return tmp_path / "net.json", tmp_path / "data.json", tmp_path / "regression.py"


def test_code_written_for_one_label_layout_is_told_how_to_check_that_layout_alone(
    capsys: pytest.CaptureFixture[str], regression: tuple[Path, Path, Path]
) -> None:
    net, data, code = regression
    args = ("--params", str(net), "--data", str(data), "--hidden", "sigmoid", "--output", "identity")
    args += ("--loss", "half-sse")
    status, out, _ = run(capsys, f"{code}:grads", *args)
    assert status == 1
    assert out.splitlines()[1].startswith("label-shape-dependent: ")
    assert "check --labels '(m, 1)'" in " ".join(out.split())
    status, out, _ = run(capsys, f"{code}:grads", *args, "--labels", "(m, 1)")
    assert status == 0, out
    assert "x 1 label layout(s) ((m, 1))" in " ".join(out.split())
    status, out, _ = run(capsys, f"{code}:halved", *args, "--labels", "(m, 1)")
    assert status == 1
    assert out.splitlines()[1].startswith("scaled: ")


def test_a_label_layout_the_labels_cannot_come_in_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], regression: tuple[Path, Path, Path]
) -> None:
    net, data, code = regression
    status, out, err = run(
        capsys, f"{code}:grads", "--params", str(net), "--data", str(data), "--labels", "(1, m)"
    )
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "Unknown label layout '(1, m)'" in err and "'(m, 1)'" in err
