"""The ``compare`` command: NumPy, PyTorch and JAX from the same weights, for the notebook's
network and any other, stage by stage, with exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from comparison_stages import STEPS, XOR_STAGES, sigmoid_bce_stages

from gradcheck_xor import model
from gradcheck_xor import network as nw
from gradcheck_xor.cli import main
from gradcheck_xor.params_io import save_data, save_params


@pytest.fixture(scope="module")
def frameworks(torch_xor, jax_xor) -> tuple[str, ...]:
    """Both frameworks, loaded (or skipped, or failed under CI) by the conftest fixtures."""
    return ("torch", "jax")


@pytest.fixture
def three_layers(tmp_path: Path) -> tuple[Path, Path]:
    """A 3-4-3-1 tanh network in a parameter file (no data in it) and 10 samples in a data file."""
    net = nw.Network.from_widths((3, 4, 3, 1), hidden="tanh")
    rng = np.random.default_rng(5)
    params = {key: rng.standard_normal(shape) / 2 for key, shape in net.param_shapes.items()}
    save_params(params, tmp_path / "deep.npz")
    X = rng.standard_normal((3, 10))
    save_data(X, (X[0] * X[1] > 0).astype(float), tmp_path / "deep_data.json")
    return tmp_path / "deep.npz", tmp_path / "deep_data.json"


def rows(out: str, names: list[str]) -> dict[str, list[str]]:
    """Each stage's row of the printed table, split into words."""
    lines = out.splitlines()
    return {name: next(line for line in lines if line.startswith(name + " ")).split() for name in names}


# --- the notebook's network ----------------------------------------------------------------


def test_compare_prints_every_stage_side_by_side_and_exits_0(frameworks, capsys):
    assert main(["compare", "--seed", "0", "--steps", str(STEPS)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"source: seed 0 (the notebook's initialiser); {STEPS} steps at learning rate 0.01\n"
    )
    assert f"network: {nw.XOR}" in out
    header = next(line for line in out.splitlines() if line.startswith("largest |x - numpy|"))
    assert header.split()[-3:] == ["PyTorch", "JAX", "tolerance"]
    for row in rows(out, XOR_STAGES).values():
        assert row[-4:-1:2] == ["ok", "ok"], row
    assert out.rstrip().endswith("NumPy and PyTorch and JAX agree at every stage.")


def test_compare_json_writes_only_json(frameworks, capsys):
    assert main(["compare", "--steps", str(STEPS), "--relu", "maximum", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["relu"] == "maximum" and data["ok"] is True
    assert data["stages"][4]["name"] == "db1 (BCE rule)"
    assert data["stages"][4]["verdict"] == {"torch": "kink", "jax": "kink"}
    assert data["kinks"] == [{"layer": 1, "unit": 0, "sample": 0}, {"layer": 1, "unit": 1, "sample": 0}]
    assert captured.err == ""


def test_compare_reads_a_parameter_file(frameworks, tmp_path, capsys):
    path = tmp_path / "start.json"
    save_params(model.init_params(3, bias=0.05), path)
    assert main(["compare", "--params", str(path), "--steps", str(STEPS)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"source: {path}; {STEPS} steps")
    assert "agree at every stage" in out


def test_compare_exits_1_when_a_difference_is_unexplained(frameworks, torch_xor, monkeypatch, capsys):
    real = torch_xor.forward
    monkeypatch.setattr(
        torch_xor, "forward", lambda *a, **k: {**real(*a, **k), "A2": real(*a, **k)["A2"] + 1e-9}
    )
    assert main(["compare", "--steps", str(STEPS)]) == 1
    assert "Unexplained differences in 1 stage(s): forward (Z1, A1, Z2, A2)." in capsys.readouterr().out


# --- any network ---------------------------------------------------------------------------


def test_compare_a_three_layer_network_from_its_files_reports_every_stage_and_exits_0(
    frameworks, three_layers, capsys
):
    params, data = three_layers
    argv = [
        "compare",
        "--params",
        str(params),
        "--data",
        str(data),
        "--hidden",
        "tanh",
        "--steps",
        str(STEPS),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "network: 3-4-3-1 network (tanh hidden, sigmoid output, bce loss, columns layout)" in out
    stages = sigmoid_bce_stages(3)
    for row in rows(out, stages).values():
        assert row[-4:-1:2] == ["ok", "ok"], row
    assert out.rstrip().endswith("NumPy and PyTorch and JAX agree at every stage.")

    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["source"] == str(params) and data["learning_rate"] == 0.01
    assert [stage["name"] for stage in data["stages"]] == stages
    assert all(stage["verdict"] == {"torch": "agree", "jax": "agree"} for stage in data["stages"])


def test_compare_a_rows_softmax_classifier_with_the_layout_its_square_shapes_cannot_tell(
    frameworks, tmp_path, capsys
):
    rng = np.random.default_rng(6)
    save_params(
        {"W1": rng.standard_normal((3, 3)), "W2": rng.standard_normal((3, 3)) / 2}, tmp_path / "sq.json"
    )
    # Three samples of three inputs: X (3, 3) fits either layout too.
    save_data(rng.standard_normal((3, 3)), np.array([0, 2, 1]), tmp_path / "classes.json")
    argv = ["compare", "--params", str(tmp_path / "sq.json"), "--data", str(tmp_path / "classes.json")]
    argv += ["--output", "softmax", "--steps", str(STEPS)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "layout is ambiguous" in err and err.endswith("; --layout on the command line.\n")
    assert main([*argv, "--layout", "rows"]) == 0
    out = capsys.readouterr().out
    assert "network: 3-3-3 network (relu hidden, softmax output, cross-entropy loss, rows layout)" in out
    assert "dW2 (cross-entropy rule)" in out and "notebook rule" not in out


# --- unusable input: one line, exit 2 ------------------------------------------------------

_COLUMNS = "(columns layout: W_l is (n_l, n_{{l-1}}))"  # formatted with the paths: braces doubled
_BAD_OPTIONS = {
    "zero steps": (["--steps", "0"], "--steps: got 0, expected a positive integer."),
    "nan learning rate": (["--lr", "nan"], "--learning-rate: got nan, expected a finite number."),
    "missing file": (
        ["--params", "missing.json"],
        "missing.json: the file cannot be read (No such file or directory); expected a readable file.",
    ),
    "layers that do not chain": (
        ["--params", "{not_chaining}"],
        "{not_chaining}: key 'W2' has shape (1, 3); expected (1, 2) to follow W1 (2, 2) " + _COLUMNS + ".",
    ),
    "no data for three inputs": (
        ["--params", "{three_inputs}"],
        "{three_inputs}: the file holds no data for the 3-input network; "
        "expected X and Y in it or in a data file (--data).",
    ),
    "data for another network": (
        ["--seed", "0", "--data", "{three_inputs}"],
        "{three_inputs}: key 'W1' is not a known key of a .json data file; expected only keys X and Y.",
    ),
    "labels that do not fit": (
        ["--seed", "0", "--data", "{classes}"],
        "{classes}: Y has shape (1, 4, 1); expected (1, 4) or (4,) for 4 samples and 1 output "
        "(columns layout).",
    ),
}


@pytest.mark.parametrize(("options", "message"), list(_BAD_OPTIONS.values()), ids=list(_BAD_OPTIONS))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_compare_rejects_unusable_input_with_one_line_and_exit_2(
    options, message, as_json, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    files = {
        "not_chaining": tmp_path / "not_chaining.json",
        "three_inputs": tmp_path / "three_inputs.json",
        "classes": tmp_path / "classes.json",
    }
    files["not_chaining"].write_text('{"W1": [[1, 2], [3, 4]], "b1": [0, 0], "W2": [[1, 1, 1]]}')
    files["three_inputs"].write_text('{"W1": [[1, 2, 3]], "W2": [[1]]}')
    save_data(model.xor_data()[0], np.zeros((1, 4, 1)), files["classes"])
    options = [option.format(**files) for option in options]
    message = message.format(**files)
    assert main(["compare", *options, *(["--json"] if as_json else [])]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"gradcheck-xor compare: error: {message}\n"
    if as_json:
        assert json.loads(captured.out)["error"] == message
    else:
        assert captured.out == ""


def test_compare_takes_a_seed_or_a_file_not_both(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["compare", "--seed", "1", "--params", "start.json"])
    assert excinfo.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_compare_without_a_framework_says_which_extra_to_install():
    # None in sys.modules makes "import jax" fail as if jax were not installed.
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['jax'] = None\n"
            "from gradcheck_xor.cli import main\n"
            "sys.exit(main(['compare', '--steps', '5']))\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "gradcheck-xor compare: error: JAX is not installed: pip install 'gradcheck-xor[jax]'\n"
    )
    assert result.stdout == ""
