"""The train command and the single-run trainer behind it."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_command
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gradcheck_xor import model, notebook, strategies, sweep
from gradcheck_xor.diagnostics import diagnose
from gradcheck_xor.params_io import load_params, save_params

_run = partial(run_command, "train")


# --- the trainer ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 3])
def test_notebook_rule_with_relu_follows_notebook_train(seed):
    params = model.init_params(seed)
    X, Y = model.xor_data()
    trained, losses = sweep.train_one(params, X, Y[0], rule="notebook", steps=2000)
    expected, expected_losses = notebook.train(params, iterations=2000)
    for name in model.PARAM_SHAPES:
        np.testing.assert_allclose(trained[name], expected[name], rtol=0, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12, atol=0)


def test_bce_rule_is_the_corrected_models_training():
    params = model.init_params(1)
    X, Y = model.xor_data()
    trained, losses = sweep.train_one(params, X, Y, rule="bce", activation="sigmoid", steps=500)
    expected, expected_losses = model.train(params, X, Y, steps=500, activation="sigmoid", diagnostics=False)
    for name in model.PARAM_SHAPES:
        assert np.array_equal(trained[name], expected[name]), name
    assert np.array_equal(losses, expected_losses)


def _half_mse(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, activation: str) -> float:
    A2 = model.predict(params, X, activation)
    return float(np.mean(0.5 * (A2 - Y) ** 2))


@settings(max_examples=30)
@given(
    params=strategies.parameters("generic"),
    activation=st.sampled_from(["relu", "leaky_relu", "sigmoid"]),
)
def test_notebook_rule_steps_down_the_gradient_of_half_the_mean_squared_error(params, activation):
    # The notebook's dZ2 = (A2 - Y) * A2 * (1 - A2) is d/dZ2 of (A2 - Y)^2 / 2: one step of the
    # rule must equal one step down the central-difference gradient of that loss.
    X, Y = model.xor_data()
    Z1 = params["W1"] @ X + params["b1"]
    assume(np.min(np.abs(Z1)) > 1e-3)  # away from the ReLU kinks, where the loss has no gradient
    lr, h = 0.1, 1e-6
    stepped, _ = sweep.train_one(
        params, X, Y, rule="notebook", activation=activation, steps=1, learning_rate=lr
    )
    for name in model.PARAM_SHAPES:
        numeric = np.zeros_like(params[name])
        for idx in np.ndindex(params[name].shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][idx] += h
            down[name][idx] -= h
            numeric[idx] = (_half_mse(up, X, Y, activation) - _half_mse(down, X, Y, activation)) / (2 * h)
        applied = (params[name] - stepped[name]) / lr
        np.testing.assert_allclose(applied, numeric, rtol=1e-5, atol=1e-9, err_msg=name)


def test_train_one_calls_on_step_with_the_loss_before_each_step():
    seen: list[tuple[int, float]] = []
    X, Y = model.xor_data()
    _, losses = sweep.train_one(
        model.init_params(0), X, Y, steps=5, on_step=lambda i, loss: seen.append((i, loss))
    )
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert [loss for _, loss in seen] == losses.tolist()
    assert losses[0] == pytest.approx(model.loss(model.init_params(0), X, Y), rel=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "mse"}, "Unknown rule 'mse': expected one of notebook, bce."),
        ({"activation": "tanh"}, "Unknown activation 'tanh': expected one of relu, leaky_relu, sigmoid."),
    ],
    ids=["unknown-rule", "unknown-activation"],
)
def test_train_one_rejects_unknown_names(kwargs, message):
    X, Y = model.xor_data()
    with pytest.raises(ValueError) as caught:
        sweep.train_one(model.init_params(0), X, Y, steps=1, **kwargs)
    assert str(caught.value) == message


@settings(max_examples=30)
@given(steps=st.integers(1, 60), limit=st.integers(1, 25))
def test_a_long_run_keeps_every_kth_loss_and_trains_exactly_as_a_short_one(steps, limit):
    # A small MAX_HISTORY stands in for a run of 10**8 steps.
    X, Y = model.xor_data()
    start = model.init_params(5)
    full_params, full = model.train(start, X, Y, steps=steps, learning_rate=0.5, diagnostics=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "MAX_HISTORY", limit)
        every = model.history_every(steps)
        params, kept = model.train(start, X, Y, steps=steps, learning_rate=0.5, diagnostics=False)
    assert len(kept) <= limit and every == -(-steps // limit)
    assert np.array_equal(kept, full[::every])
    for name in model.PARAM_SHAPES:
        assert np.array_equal(params[name], full_params[name]), name


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
        (["--lr", "inf"], "--lr: got inf, expected a finite number."),
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


def test_train_names_the_key_of_a_bad_parameter_file(capsys, tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text('{"W1": [[1, 2]], "b1": [0, 0], "W2": [[1, 1]], "b2": [0]}')
    code, _, err = _run(capsys, "--params", str(path), "--steps", "5")
    assert code == 2
    assert str(path) in err and "'W1'" in err
