"""``gradcheck-xor diagnose FILE [--json]``: reports, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_diagnostics_networks import HEALTHY as HEALTHY_DEEP

from gradcheck_xor.params_io import SUFFIXES, save_data, save_params

EXAMPLES = Path(__file__).resolve().parent.parent / "gradcheck_xor" / "examples"
NOTEBOOK_FINAL = str(EXAMPLES / "notebook_final.json")
GOOD = {"W1": np.eye(2), "b1": np.full((2, 1), 0.1), "W2": np.array([[1.0, -2.0]]), "b2": np.zeros((1, 1))}
# Heavy packages, and the parts of gradcheck-xor that diagnose does not need (the oracle and
# the sweep are large modules; importing them would slow every diagnose run).
HEAVY = (
    "torch", "jax", "tqdm", "safetensors", "hypothesis", "matplotlib",
    "gradcheck_xor.gradcheck", "gradcheck_xor.sweep", "gradcheck_xor.crossval",
)  # fmt: skip


class _WritesMarker:
    """Unpickling this calls open(marker, "w"): the marker file appears if anything unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


_run = partial(run_command, "diagnose")


# --- the bundled examples -------------------------------------------------------------------

EXAMPLE_OUTCOMES = [
    ("notebook_final", 1, {"vanishing-w2": "error", "linear-hidden-layer": "error"}),
    ("notebook_init_dead_unit", 1, {"dead-relu": "error"}),
    ("healthy_solution", 0, {}),
]


@pytest.mark.parametrize(
    ("name", "exit_code", "problems"), EXAMPLE_OUTCOMES, ids=[e[0] for e in EXAMPLE_OUTCOMES]
)
def test_each_bundled_example_gets_its_documented_diagnosis(
    capsys: pytest.CaptureFixture[str], name: str, exit_code: int, problems: dict[str, str]
) -> None:
    code, out, err = _run(capsys, "--example", name, "--json")
    report = json.loads(out)
    assert code == exit_code and err == ""
    assert report["source"] == f"example {name}"
    assert {f["code"]: f["severity"] for f in report["findings"] if f["severity"] != "info"} == problems
    assert report["ok"] is (exit_code == 0)


def test_the_readable_report_for_the_notebooks_final_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, NOTEBOOK_FINAL)
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"gradcheck-xor diagnose: {NOTEBOOK_FINAL}"
    assert (
        lines[1]
        == "  4 samples, labels of shape (4,); outputs 0.5000 0.5000 0.5000 0.5000 for targets 0 1 1 0"
    )
    assert lines[2] == "  binary cross-entropy 0.693147; some samples misclassified"
    assert any(
        line.startswith("ERROR vanishing-w2: |W2| of hidden units 0, 1 below sqrt(eps)") for line in lines
    )
    assert any(line.startswith("ERROR linear-hidden-layer: every hidden unit is active") for line in lines)
    assert any(line.startswith("INFO loss-normalization: ") for line in lines)
    assert lines[-1] == "2 error(s), 0 warning(s), 1 note(s): training from these parameters will go wrong."


def test_json_output_is_exactly_one_object_with_the_documented_members(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, NOTEBOOK_FINAL, "--json")
    report = json.loads(out)  # fails on anything but exactly one JSON document
    assert code == 1
    assert out.count("\n") == 1 and out.endswith("}\n")
    assert report["source"] == NOTEBOOK_FINAL and report["ok"] is False
    assert report["counts"] == {"error": 2, "warning": 0, "info": 1}
    for finding in report["findings"]:
        assert {"code", "severity", "message", "why", "fix", "evidence"} <= set(finding)
    vanishing = next(f for f in report["findings"] if f["code"] == "vanishing-w2")
    assert vanishing["evidence"]["W2"] == [-5.4903998e-16, 2.51708376e-15]
    assert report["summary"]["predictions"] == pytest.approx([0.5] * 4, abs=1e-15)


def test_non_finite_parameters_still_give_strict_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "nan.json"
    save_params({**GOOD, "W1": np.array([[np.nan, 0.0], [0.0, 1.0]])}, path)
    code, out, _ = _run(capsys, str(path), "--json")
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert code == 1 and report["findings"][0]["code"] == "non-finite"
    assert report["summary"]["loss"] == "nan"


def test_exit_zero_keeps_the_report_but_not_the_failing_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, NOTEBOOK_FINAL, "--exit-zero")
    assert code == 0
    assert "ERROR vanishing-w2" in out and "ERROR linear-hidden-layer" in out


def test_exit_zero_still_fails_on_an_unusable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, str(tmp_path / "absent.json"), "--exit-zero")
    assert code == 2 and err.startswith("gradcheck-xor diagnose: error: ")


# --- any network ------------------------------------------------------------------------------


def test_a_three_layer_file_is_diagnosed_layer_by_layer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "deep.npz"
    save_params({**HEALTHY_DEEP, "b2": np.array([[-0.25], [-1.0]])}, path)  # unit 1 of layer 2 dead
    code, out, err = _run(capsys, str(path))
    lines = out.splitlines()
    assert code == 1 and err == ""
    assert lines[1] == "  2-2-2-1 network (relu hidden, sigmoid output, bce loss, columns layout)"
    assert any(
        line.startswith("ERROR dead-relu: hidden unit 1 of layer 2 is dead: Z2 <= 0") for line in lines
    )
    code, out, _ = _run(capsys, str(path), "--json")
    assert code == 1 and [f["code"] for f in json.loads(out)["findings"]] == [
        "dead-relu",
        "loss-normalization",
    ]


@pytest.mark.parametrize("suffix", [".json", ".safetensors"])
def test_a_healthy_three_layer_file_exits_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"deep{suffix}"
    save_params(HEALTHY_DEEP, path)
    code, out, _ = _run(capsys, str(path), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["summary"]["solved"] is True


def test_a_network_of_three_inputs_takes_its_data_from_a_data_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    params, data = tmp_path / "net.json", tmp_path / "data.npz"
    save_params(
        {"W1": rng.standard_normal((4, 3)), "b1": np.full((4, 1), 0.1), "W2": rng.standard_normal((1, 4))},
        params,
    )
    save_data(rng.standard_normal((3, 5)), np.array([0.0, 1.0, 1.0, 0.0, 1.0]), data)
    code, out, err = _run(capsys, str(params))
    assert code == 2 and out == "" and "holds no data for the 3-input network" in err
    assert err.count("\n") == 1
    code, out, err = _run(capsys, str(params), "--data", str(data), "--json")
    assert code in (0, 1) and err == ""
    assert json.loads(out)["summary"]["samples"] == 5


def test_the_network_options_say_what_the_shapes_cannot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "tanh.json"
    save_params({**HEALTHY_DEEP, "W1": 30 * HEALTHY_DEEP["W1"]}, path)
    code, out, _ = _run(capsys, str(path), "--hidden", "tanh")
    assert code == 1
    assert out.splitlines()[1] == "  2-2-2-1 network (tanh hidden, sigmoid output, bce loss, columns layout)"
    assert "WARNING sigmoid-saturation: tanh(Z1) rounds to -1 or 1 for hidden units 0, 1 of layer 1" in out
    code, out, err = _run(capsys, str(path), "--output", "softmax", "--loss", "bce")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(
        f"gradcheck-xor diagnose: error: {path}: loss='bce' does not go with output='softmax'"
    )


def test_a_rows_layout_softmax_classifier_is_read_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # cs231n's layout: samples in rows, W1 (n_in, n_1), biases (n,), integer classes.
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    rows = {"W1": np.array([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]]), "b1": np.full(3, 0.1)}
    path = tmp_path / "classifier.json"
    save_params(
        {**rows, "W2": np.eye(3), "b2": np.zeros(3), "X": X, "Y": np.array([0.0, 1.0, 2.0, 1.0])}, path
    )
    code, out, _ = _run(capsys, str(path), "--output", "softmax")
    lines = out.splitlines()
    assert lines[1] == "  2-3-3 network (relu hidden, softmax output, cross-entropy loss, rows layout)"
    assert lines[2].startswith("  4 samples, labels of shape (4,); classes ")
    assert "INFO loss-normalization: labels of shape (4,)" in out and "X.shape[0]" in out
    assert code == (0 if "ERROR" not in out and "WARNING" not in out else 1)


def test_a_softmax_label_that_is_no_class_is_a_label_range_finding_not_an_unusable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "classes.json"
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    save_params({"W1": np.ones((3, 2)), "W2": np.eye(3), "X": X, "Y": np.array([0.0, 1.0, 5.0, 2.0])}, path)
    code, out, err = _run(capsys, str(path), "--output", "softmax", "--json")
    report = json.loads(out)
    assert code == 1 and err == ""
    found = {finding["code"]: finding for finding in report["findings"]}
    assert found["label-range"]["severity"] == "error"
    assert found["label-range"]["evidence"]["labels_outside"] == [5.0]


# --- unusable files -----------------------------------------------------------------------------


def test_an_unusable_file_gives_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"W1": [1, 2, 3], "b1": [0, 0], "W2": [[1, 1]], "b2": 0}))
    code, out, err = _run(capsys, str(path))
    assert code == 2 and out == ""
    assert err == (
        f"gradcheck-xor diagnose: error: {path}: key 'W1' has shape (3,); expected a 2-D array with at "
        "least one unit.\n"
    )


def test_an_unusable_file_with_json_also_writes_an_error_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "missing.npz"
    code, out, err = _run(capsys, str(path), "--json")
    message = f"{path}: the file cannot be read (No such file or directory); expected a readable file."
    assert code == 2
    assert json.loads(out) == {"source": str(path), "ok": False, "error": message}
    assert err == f"gradcheck-xor diagnose: error: {message}\n"


def test_the_real_process_refuses_a_pickle_without_a_traceback(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"W1": _WritesMarker(marker)}, path)
    assert not marker.exists()
    out = subprocess.run(
        [sys.executable, "-m", "gradcheck_xor", "diagnose", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "holds a pickled object (io.open), refused" in out.stderr
    assert not marker.exists()


_fuzz = settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("suffix", SUFFIXES)
@_fuzz
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_give_a_report_or_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str, data: bytes
) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    code, out, err = _run(capsys, str(path), "--json")
    document = json.loads(out)
    assert code in (0, 1, 2)
    assert ("error" in document) == (code == 2)
    assert err.count("\n") == (1 if code == 2 else 0)


def _json_containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=2)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    _json_containers,
    max_leaves=12,
)
_rows = st.lists(st.lists(st.floats(), min_size=2, max_size=2), min_size=1, max_size=3)
# Valid documents with up to three keys replaced by arbitrary JSON or by float matrices.
_json_documents = st.builds(
    lambda override: {**{k: v.tolist() for k, v in GOOD.items()}, **override},
    st.dictionaries(st.sampled_from(["W1", "b1", "W2", "b2", "X", "Y"]), _json_values | _rows, max_size=3),
)


@_fuzz
@given(doc=_json_documents)
def test_arbitrary_json_documents_give_a_report_or_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, doc: dict[str, object]
) -> None:
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(doc))
    code, out, err = _run(capsys, str(path))
    assert code in (0, 1, 2)
    assert "Traceback" not in out + err
    assert (code == 2) == err.startswith("gradcheck-xor diagnose: error: ")


# --- what the command imports -------------------------------------------------------------------


def _modules_after_diagnose(path: str) -> list[str]:
    code = (
        "import sys\n"
        "from gradcheck_xor.cli import main\n"
        "import contextlib, io\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main(['diagnose', {path!r}])\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.replace("'", '"'))


def test_diagnosing_a_json_file_imports_only_numpy_and_the_standard_library() -> None:
    assert _modules_after_diagnose(NOTEBOOK_FINAL) == []


def test_diagnosing_a_torch_file_imports_torch_and_not_jax(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "p.pt"
    save_params(GOOD, path)
    modules = _modules_after_diagnose(str(path))
    assert "torch" in modules and "jax" not in modules
