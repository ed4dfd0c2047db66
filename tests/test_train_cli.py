"""The train command: diagnostics, one run, its table, JSON, saved parameters and plot."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_command

from gradcheck_xor import model, sweep
from gradcheck_xor.diagnostics import diagnose
from gradcheck_xor.params_io import load_params, save_params

_run = partial(run_command, "train")


@pytest.mark.parametrize("rule", ["notebook", "bce"])
def test_the_command_trains_a_long_run_in_chunks_exactly_as_in_one(capsys, monkeypatch, rule):
    X, Y = model.xor_data()
    start = model.init_params(0)
    expected, losses = sweep.train_one(start, X, Y[0], rule=rule, steps=2500, learning_rate=0.5)
    monkeypatch.setattr(model, "MAX_HISTORY", 300)  # chunks of 300 steps, every 9th loss kept
    code, out, _ = _run(capsys, "--rule", rule, "--steps", "2500", "--lr", "0.5", "--json")
    result = json.loads(out)
    for name in model.PARAM_SHAPES:
        assert np.array_equal(np.array(result["params"][name]), expected[name]), name
    every = result["loss_history"]["every"]
    assert every % model.history_every(2500) == 0
    assert result["loss_history"]["values"] == losses[::every].tolist()
    assert code == (0 if result["solved"] else 1)


# --- the command ---------------------------------------------------------------------------


def test_train_prints_diagnostics_then_the_notebooks_prediction_table(capsys):
    code, out, err = _run(capsys, "--seed", "0", "--steps", "2000")
    assert code == 1  # the notebook's rule does not solve XOR from seed 0
    assert out.index("gradcheck-xor diagnose") < out.index("Input (A, B) | Predicted Y ")
    assert "INFO relu-kink" in out
    for row in ("    0, 0 | ", "    0, 1 | ", "    1, 0 | ", "    1, 1 | "):
        assert row in out
    assert "loss (binary cross-entropy)" in out
    assert err == ""  # no progress bar when stderr is not a terminal


def test_train_exits_zero_when_the_trained_network_solves_xor(capsys):
    code, out, _ = _run(capsys, "--seed", "0", "--rule", "bce", "--lr", "0.5", "--steps", "3000")
    assert code == 0
    assert "solved: every output within 0.4 of its label" in out


def test_train_json_is_one_object_consistent_with_its_own_parameters(capsys):
    code, out, err = _run(capsys, "--seed", "2", "--rule", "bce", "--lr", "0.5", "--steps", "1500", "--json")
    result = json.loads(out)
    assert err == ""
    params = {k: np.array(v) for k, v in result["params"].items()}
    X, Y = model.xor_data()
    np.testing.assert_allclose(result["predictions"], model.predict(params, X)[0], rtol=1e-12)
    assert result["final_loss"] == pytest.approx(model.loss(params, X, Y), rel=1e-12)
    assert result["outcome"] == sweep.outcome_of(np.array(result["predictions"]), Y, result["final_loss"])
    assert code == (0 if result["solved"] else 1)
    expected = diagnose(model.init_params(2), X, Y[0], notebook_loss=False).to_dict()
    assert result["diagnostics"] == json.loads(json.dumps(expected))  # the starting point's report
    assert [f["code"] for f in result["diagnostics"]["findings"]] == ["dead-relu", "relu-kink"]
    assert result["loss_history"]["every"] == 1 and len(result["loss_history"]["values"]) == 1500


def test_train_saves_parameters_that_load_back_and_continues_from_a_file(capsys, tmp_path: Path):
    saved = tmp_path / "trained.json"
    _, out, _ = _run(capsys, "--seed", "0", "--rule", "bce", "--steps", "300", "--save", str(saved), "--json")
    first = json.loads(out)
    loaded = load_params(saved)
    for name in model.PARAM_SHAPES:
        np.testing.assert_array_equal(loaded[name], np.array(first["params"][name]))
    _, out, _ = _run(capsys, "--params", str(saved), "--rule", "bce", "--steps", "1", "--json")
    second = json.loads(out)
    assert second["source"] == str(saved)
    assert second["initial_loss"] == pytest.approx(first["final_loss"], rel=1e-12)


def test_train_uses_the_data_stored_in_the_parameter_file(capsys, tmp_path: Path):
    path = tmp_path / "and.json"
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    save_params({**model.init_params(4), "X": X, "Y": np.array([0.0, 0.0, 0.0, 1.0])}, path)
    code, out, _ = _run(
        capsys, "--params", str(path), "--rule", "bce", "--lr", "1", "--steps", "2000", "--json"
    )
    result = json.loads(out)
    assert result["targets"] == [0.0, 0.0, 0.0, 1.0]
    assert code == 0 and result["solved"]  # AND is linearly separable: the corrected rule solves it


def test_train_plot_writes_a_png(capsys, tmp_path: Path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "run.png"
    _run(capsys, "--seed", "0", "--steps", "50", "--plot", str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "--steps: got 0, expected a positive integer."),
        (["--lr", "inf"], "--learning-rate: got inf, expected a finite number."),
        (["--save", "out.txt"], "--save: got 'out.txt', expected a file name ending in .json, .npz"),
        (["--plot", "out.svg"], "--plot: got 'out.svg', expected a file name ending in .png."),
        (["--params", "missing.json"], "missing.json"),
    ],
    ids=["no-steps", "infinite-lr", "save-unknown-format", "plot-not-png", "missing-file"],
)
def test_train_rejects_bad_options_in_one_line(capsys, argv, message):
    code, out, err = _run(capsys, "--steps", "5", *argv) if "--steps" not in argv else _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("gradcheck-xor train: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"W1": [[1, 2]], "b1": [0, 0], "W2": [[1, 1]], "b2": [0]},
            "key 'W2' has shape (1, 2); expected (2, 2) to follow W1 (1, 2)",
        ),
        (
            {"W1": [[1, 2], [3, 4], [5, 6]], "b1": [0, 0, 0], "W2": [[1, 1, 1]], "b2": [0]},
            "W1 has shape (3, 2); expected (2, 2) for the 2-2-1 network (relu hidden, sigmoid output, "
            "bce loss, columns layout).",
        ),
    ],
    ids=["not-a-network", "another-network"],
)
def test_train_names_the_file_and_the_key_it_cannot_train(capsys, tmp_path: Path, params, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(params))
    code, out, err = _run(capsys, "--params", str(path), "--steps", "5")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"gradcheck-xor train: error: {path}")
    assert message in err
