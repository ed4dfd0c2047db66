"""The seed sweep: initialiser, both engines against the reference trainers, outcomes, report."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_xor import cli, model, notebook, strategies, sweep
from gradcheck_xor import network as nw

EPS = float(np.finfo(np.float64).eps)
FEW_STEPS = 1500  # long enough for the notebook rule to move far from its start


def _stack(param_sets: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.stack([p[name] for p in param_sets]) for name in model.PARAM_SHAPES}


def _max_gap(batch: dict[str, np.ndarray], i: int, reference: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(batch[name][i] - reference[name]))) for name in model.PARAM_SHAPES)


def _reference(
    params: dict[str, np.ndarray], rule: str, steps: int, lr: float = 0.01
) -> dict[str, np.ndarray]:
    if rule == "notebook":
        return notebook.train(params, iterations=steps, learning_rate=lr)[0]
    X, Y = model.xor_data()
    return model.train(params, X, Y, steps=steps, learning_rate=lr, diagnostics=False)[0]


# --- the initialiser -----------------------------------------------------------------------


@given(
    seeds=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5),
    scale=st.sampled_from([1.0, 0.1, 3.0]),
    bias=st.sampled_from([0.0, 0.1, -0.5]),
)
def test_initial_params_equal_init_params_bit_for_bit_for_any_seeds(seeds, scale, bias):
    batch = sweep.initial_params(seeds, scale=scale, bias=bias)
    for i, seed in enumerate(seeds):
        single = model.init_params(seed, scale=scale, bias=bias)
        for name in model.PARAM_SHAPES:
            assert np.array_equal(batch[name][i], single[name]), (seed, name)


def test_initial_params_follow_the_notebooks_global_seeding():
    np.random.seed(7)
    expected = notebook.initialize_parameters()
    batch = sweep.initial_params([7])
    for name in model.PARAM_SHAPES:
        assert np.array_equal(batch[name][0], expected[name]), name


def test_initial_params_leave_numpys_global_random_state_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    sweep.initial_params(range(5))
    assert np.array_equal(np.random.get_state()[1], before)


# --- fidelity: the engines against notebook.train and model.train --------------------------


@pytest.mark.parametrize("rule", ["notebook", "bce"])
def test_numpy_engine_matches_the_reference_trainer_from_the_notebooks_seeds(rule):
    seeds = [0, 1, 2, 3, 42]
    trained = sweep.train_batch(sweep.initial_params(seeds), steps=FEW_STEPS, rule=rule)
    for i, seed in enumerate(seeds):
        expected = _reference(model.init_params(seed), rule, FEW_STEPS)
        assert _max_gap(trained, i, expected) < 1e-9, seed


@settings(max_examples=25)
@given(
    params=st.sampled_from(strategies.REGIMES).flatmap(strategies.parameters),
    rule=st.sampled_from(sweep.RULES),
    lr=st.sampled_from([0.01, 0.5]),
)
def test_numpy_engine_steps_as_the_reference_trainer_along_its_trajectory_for_any_parameters(
    params, rule, lr
):
    # Step by step from the reference's own parameters: at lr 0.5 some runs oscillate and
    # double any rounding difference every step, so whole trajectories part after ~50 steps
    # (both ways of rounding being right); each step must still agree to rounding.
    for step in range(60):
        trained = sweep.train_batch(_stack([params]), steps=1, rule=rule, learning_rate=lr)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # saturated draws
            params = _reference(params, rule, 1, lr)
        for name in model.PARAM_SHAPES:
            np.testing.assert_allclose(
                trained[name][0], params[name], rtol=1e-12, atol=1e-12, err_msg=f"{name} at step {step}"
            )


def test_numpy_engine_gives_the_same_bits_whatever_the_chunk_size():
    params = sweep.initial_params(range(11))
    whole = sweep.train_batch(params, steps=200, chunk=8192)
    pieces = sweep.train_batch(params, steps=200, chunk=3)
    for name in model.PARAM_SHAPES:
        assert np.array_equal(whole[name], pieces[name]), name


def test_train_batch_leaves_its_input_unchanged_and_zero_steps_return_it():
    params = sweep.initial_params(range(4))
    copy = {k: v.copy() for k, v in params.items()}
    sweep.train_batch(params, steps=10)
    unchanged = sweep.train_batch(params, steps=0)
    for name in model.PARAM_SHAPES:
        assert np.array_equal(params[name], copy[name])
        assert np.array_equal(unchanged[name], copy[name])


@pytest.mark.parametrize("chunk", [4, 8192], ids=["threads", "one-chunk"])
def test_progress_reports_add_up_to_every_seed_step(chunk):
    reported: list[int] = []
    sweep.train_batch(sweep.initial_params(range(10)), steps=1000, chunk=chunk, on_progress=reported.append)
    assert sum(reported) == 10 * 1000
    assert all(n > 0 for n in reported)
    if chunk == 8192:  # in this thread, every 128 steps of a small chunk
        assert len(reported) > 3


def test_an_interrupted_numpy_run_stops_its_threads_at_once():
    params = sweep.initial_params(range(3 * 4096))  # three chunks: a thread per core trains them
    threads_before = threading.active_count()

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweep.train_batch(params, steps=10**7, chunk=4096, on_progress=interrupt)
    assert time.monotonic() - started < 30  # generous: a run to the end would take hours
    assert threading.active_count() == threads_before


@pytest.fixture(scope="module")
def jax_available():
    return pytest.importorskip("jax")


@pytest.mark.parametrize("rule", ["notebook", "bce"])
def test_jax_engine_matches_the_reference_trainer_from_the_notebooks_seeds(jax_available, rule):
    seeds = [0, 1, 2, 3, 42]
    steps = FEW_STEPS + 1  # not a multiple of 4: the last step runs outside the four-step loop
    trained = sweep.train_batch(sweep.initial_params(seeds), steps=steps, rule=rule, backend="jax", chunk=4)
    for i, seed in enumerate(seeds):
        expected = _reference(model.init_params(seed), rule, steps)
        assert _max_gap(trained, i, expected) < 1e-9, seed


def test_jax_progress_reports_add_up_to_every_seed_step(jax_available):
    reported: list[int] = []
    params = sweep.initial_params(range(5))
    sweep.train_batch(params, steps=101, backend="jax", chunk=4, on_progress=reported.append)
    assert sum(reported) == 5 * 101


@given(x=st.floats(-708.0, 709.0))
@settings(max_examples=300)
def test_the_jax_engines_exp_is_within_a_few_ulp_of_numpys(jax_available, x):
    from gradcheck_xor import _sweep_jax

    with jax_available.enable_x64(True):
        got = float(jax_available.jit(_sweep_jax.exp)(np.float64(x)))
    expected = math.exp(x)
    assert abs(got - expected) <= 4 * math.ulp(expected)


def test_the_jax_engines_exp_saturates_instead_of_overflowing(jax_available):
    from gradcheck_xor import _sweep_jax

    x = np.array([-1e308, -800.0, -708.0, 0.0, 1.0, 709.0, 800.0, 1e308])
    with jax_available.enable_x64(True):
        got = np.asarray(jax_available.jit(_sweep_jax.exp)(x))
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    assert got[0] == got[1] == got[2] and got[-1] == got[-2] == got[-3]  # clamped to exp(+-708/709)
    assert np.allclose(got[2:-2], np.exp(x[2:-2]), rtol=1e-15, atol=0)


# A JAX process of its own: how many devices the engine shards over depends on whether JAX's
# backend had started before the first sweep (in this test run, other tests may have started it).
_JAX_CHILD = """
import sys
import jax
import numpy as np
from gradcheck_xor import _sweep_layout, sweep
if sys.argv[1] == "started":
    jax.numpy.zeros(1).block_until_ready()  # the backend starts with JAX's default: one CPU device
reported = []
trained = sweep.train_batch(
    sweep.initial_params(range(40, 61)), steps=203, backend="jax", chunk=8, on_progress=reported.append
)
print(len(jax.devices()), _sweep_layout.cores(), sum(reported))
print(np.concatenate([trained[k].ravel() for k in sorted(trained)]).tobytes().hex())
"""


@pytest.mark.parametrize("backend_state", ["fresh", "started"])
def test_the_sharded_jax_engine_trains_the_same_bits_on_any_number_of_devices(jax_available, backend_state):
    params = sweep.initial_params(range(40, 61))
    here = sweep.train_batch(params, steps=203, backend="jax", chunk=8, devices=1)
    done = subprocess.run(
        [sys.executable, "-c", _JAX_CHILD, backend_state], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    counts, bits = done.stdout.split("\n")[:2]
    n_devices, n_cores, reported = map(int, counts.split())
    assert n_devices == (n_cores if backend_state == "fresh" else 1)
    assert reported == 21 * 203
    assert bits == np.concatenate([here[k].ravel() for k in sorted(here)]).tobytes().hex()


def test_the_jax_engine_gives_the_same_bits_whatever_the_chunk_size(jax_available):
    params = sweep.initial_params(range(50))
    whole = sweep.train_batch(params, steps=57, backend="jax")
    pieces = sweep.train_batch(params, steps=57, backend="jax", chunk=8)
    for name in model.PARAM_SHAPES:
        assert np.array_equal(whole[name], pieces[name]), name


def test_an_interrupted_jax_run_stops_after_one_block_of_steps(jax_available):
    params = sweep.initial_params(range(64))
    sweep.train_batch(params, steps=4, backend="jax", chunk=8)  # compiled: the timing below is training
    calls: list[int] = []

    def interrupt(n: int) -> None:
        calls.append(n)
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweep.train_batch(params, steps=10**9, backend="jax", chunk=8, on_progress=interrupt)
    assert time.monotonic() - started < 30  # generous: a run to the end would take hours
    assert len(calls) == 1 and 0 < calls[0] < 64 * 10**9


@pytest.mark.parametrize("rule", ["notebook", "bce"])
def test_numpy_and_jax_classify_every_seed_the_same_way(jax_available, rule):
    kwargs = {"first_seed": 100, "steps": 3000, "rule": rule}
    by_numpy = sweep.run_sweep(96, backend="numpy", **kwargs)
    by_jax = sweep.run_sweep(96, backend="jax", chunk=32, **kwargs)
    assert np.array_equal(by_numpy.outcome, by_jax.outcome)
    assert np.allclose(by_numpy.final_loss, by_jax.final_loss, rtol=0, atol=1e-9)
    assert len(set(by_numpy.outcome.tolist())) > 1  # the comparison covers more than one outcome


# --- outcomes ------------------------------------------------------------------------------


def _one(W1, b1, W2, b2) -> dict[str, np.ndarray]:
    return _stack([{"W1": np.array(W1), "b1": np.array(b1), "W2": np.array(W2), "b2": np.array(b2)}])


def test_a_network_that_computes_xor_is_solved():
    # h0 = relu(x1 + x2), h1 = relu(x1 + x2 - 1); out = 10 h0 - 20 h1 - 5: XOR, margins > 0.99.
    params = _one([[1.0, 1.0], [1.0, 1.0]], [[0.0], [-1.0]], [[10.0, -20.0]], [[-5.0]])
    outcome, loss = sweep.classify(params)
    assert sweep.OUTCOMES[outcome[0]] == "solved"
    assert loss[0] < 0.01


def test_a_network_that_outputs_one_half_everywhere_is_stuck():
    params = _one([[0.3, -0.2], [1.0, 0.5]], [[0.0], [0.0]], [[0.0, 0.0]], [[0.0]])
    outcome, loss = sweep.classify(params)
    assert sweep.OUTCOMES[outcome[0]] == "stuck"
    assert loss[0] == pytest.approx(math.log(2), abs=1e-15)


def test_a_confidently_wrong_network_is_neither_solved_nor_stuck():
    params = _one([[0.0, 0.0], [0.0, 0.0]], [[0.0], [0.0]], [[0.0, 0.0]], [[3.0]])
    outcome, _ = sweep.classify(params)
    assert sweep.OUTCOMES[outcome[0]] == "other"


@settings(max_examples=40)
@given(params=st.sampled_from(strategies.REGIMES).flatmap(strategies.parameters))
def test_classify_applies_the_stated_rules_for_any_parameters(params):
    outcome, loss = sweep.classify(_stack([params]))
    X, Y = model.xor_data()
    A2 = model.predict(params, X)
    expected_loss = model.loss(params, X, Y)
    assert loss[0] == pytest.approx(expected_loss, rel=1e-12, abs=1e-15)
    assert sweep.OUTCOMES[outcome[0]] == sweep.outcome_of(A2, Y, expected_loss)
    if np.all(np.abs(A2 - Y) < 0.4):
        assert outcome[0] == 0
    elif abs(expected_loss - math.log(2)) < 1e-3:
        assert outcome[0] == 1
    else:
        assert outcome[0] == 2


# --- the report ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # reference values of the Wilson score interval
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 100, 0.0018, 0.0545),
    ],
    ids=["none-of-10", "half-of-10", "all-of-10", "one-in-a-hundred"],
)
def test_wilson_interval_matches_reference_values(k, n, low, high):
    lo, hi = sweep.wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


@given(n=st.integers(1, 10**7), data=st.data())
def test_wilson_interval_holds_the_proportion_and_mirrors_under_complement(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = sweep.wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    lo_c, hi_c = sweep.wilson_interval(n - k, n)
    assert lo == pytest.approx(1 - hi_c, abs=1e-12)
    assert hi == pytest.approx(1 - lo_c, abs=1e-12)


def test_wilson_interval_of_nothing_is_none():
    assert sweep.wilson_interval(0, 0) is None


def _result(outcome: list[int], codes: dict[str, list[bool]]) -> sweep.SweepResult:
    n = len(outcome)
    return sweep.SweepResult(
        first_seed=0,
        n_seeds=n,
        steps=10,
        rule="notebook",
        learning_rate=0.01,
        backend="numpy",
        init_scale=1.0,
        init_bias=0.0,
        outcome=np.array(outcome, dtype=np.int8),
        final_loss=np.linspace(0.1, 0.7, n),
        codes={code: np.array(flags) for code, flags in codes.items()},
        seconds={"train": 1e-6 * n},
    )


def test_summary_counts_outcomes_and_scores_each_code_as_a_predictor_of_failure():
    # 8 seeds: outcomes solved x3, stuck x3, other x2; the code flags 4 seeds, 3 of them failures.
    outcome = [0, 0, 0, 1, 1, 1, 2, 2]
    flags = [True, False, False, True, True, False, True, False]
    s = sweep.summarize(_result(outcome, {"dead-relu": flags}))
    assert s["n_seeds"] == 8
    assert s["counts"] == {"solved": 3, "stuck": 3, "other": 2}
    assert s["rates"]["stuck"]["value"] == pytest.approx(3 / 8)
    p = s["predictors"]["dead-relu"]
    assert p["flagged"] == 4
    assert p["precision"]["value"] == pytest.approx(3 / 4)  # failures among the flagged
    assert p["recall"]["value"] == pytest.approx(3 / 5)  # flagged among the 5 failures
    assert p["failure_rate_flagged"]["value"] == pytest.approx(3 / 4)
    assert p["failure_rate_unflagged"]["value"] == pytest.approx(2 / 4)
    assert p["precision"]["ci95"] == pytest.approx(list(sweep.wilson_interval(3, 4)))
    assert s["ns_per_seed_step"] == pytest.approx(1e-6 * 8 / (8 * 10) * 1e9)
    json.dumps(s, allow_nan=False)  # plain data


def test_a_code_that_never_fires_has_no_precision_and_zero_recall():
    s = sweep.summarize(_result([0, 1, 2], {"symmetric-units": [False, False, False]}))
    p = s["predictors"]["symmetric-units"]
    assert p["precision"]["value"] is None and p["precision"]["ci95"] is None
    assert p["recall"]["value"] == 0.0


def test_report_text_shows_rates_intervals_and_every_code():
    s = sweep.summarize(
        _result([0, 1, 1, 2], {"dead-relu": [False, True, True, False], "relu-kink": [True] * 4})
    )
    text = sweep.format_report(s)
    assert "seeds 0..3" in text
    assert "stuck          2    50.0% [15.0,  85.0]" in text
    assert "dead-relu" in text and "relu-kink" in text
    assert "precision = P(not solved | flagged)" in text


def test_run_sweep_labels_each_seed_with_the_diagnostics_codes():
    from gradcheck_xor.diagnostics import init_codes

    result = sweep.run_sweep(40, first_seed=5, steps=50)
    params = sweep.initial_params(range(5, 45))
    X, Y = model.xor_data()
    expected = init_codes(params["W1"], params["b1"], params["W2"], params["b2"], X, Y[0])
    assert set(result.codes) == set(expected)
    for code, flags in expected.items():
        assert np.array_equal(result.codes[code], flags), code
    assert result.codes["dead-relu"].any()  # seeds 5..44 include dead units: the check has teeth


def test_run_sweep_in_small_blocks_equals_one_block():
    one = sweep.run_sweep(30, steps=100, rule="bce")
    blocks = sweep.run_sweep(30, steps=100, rule="bce", block=7, chunk=5)
    assert np.array_equal(one.outcome, blocks.outcome)
    assert np.array_equal(one.final_loss, blocks.final_loss)
    for code in one.codes:
        assert np.array_equal(one.codes[code], blocks.codes[code])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "mse"}, "Unknown rule 'mse': expected one of notebook, bce."),
        ({"backend": "torch"}, "Unknown backend 'torch': expected one of numpy, jax."),
        ({"steps": -1}, "steps: got -1, expected a non-negative integer."),
        ({"learning_rate": math.nan}, "learning_rate: got nan, expected a finite number."),
        ({"n_seeds": 0}, "n_seeds: got 0, expected a positive integer."),
        ({"first_seed": 2**32 - 1, "n_seeds": 2}, "expected seeds in [0, 2**32)"),
    ],
    ids=[
        "unknown-rule",
        "unknown-backend",
        "negative-steps",
        "nan-learning-rate",
        "no-seeds",
        "seed-too-large",
    ],
)
def test_run_sweep_rejects_bad_arguments_with_a_clear_message(kwargs, message):
    arguments = {"n_seeds": 3, "steps": 1, **kwargs}
    with pytest.raises(ValueError) as caught:
        sweep.run_sweep(arguments.pop("n_seeds"), **arguments)
    assert message in str(caught.value)


def test_train_batch_rejects_misshapen_parameters():
    params = sweep.initial_params(range(3))
    params["b1"] = params["b1"][:, :, 0]
    with pytest.raises(ValueError, match=r"Shape mismatch for b1: got \(3, 2\), expected \(S, 2, 1\)\."):
        sweep.train_batch(params, steps=1)


# --- the sweep command ---------------------------------------------------------------------


def test_sweep_command_writes_one_json_object_with_counts_predictors_and_speed(capsys):
    code = cli.main(["sweep", "--seeds", "40", "--steps", "200", "--rule", "bce", "--lr", "0.5", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert result["n_seeds"] == 40
    assert sum(result["counts"].values()) == 40
    assert set(result["counts"]) == {"solved", "stuck", "other"}
    assert "dead-relu" in result["predictors"]
    assert result["ns_per_seed_step"] > 0
    assert result["rule"] == "bce" and result["learning_rate"] == 0.5


def test_sweep_command_prints_the_report(capsys):
    assert cli.main(["sweep", "--seeds", "20", "--first-seed", "3", "--steps", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradcheck-xor sweep: seeds 3..22 (20)")
    assert "Wilson" in out and "dead-relu" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0"], "--seeds: got 0, expected a positive integer."),
        (["--steps", "0"], "--steps: got 0, expected a positive integer."),
        (["--lr", "nan"], "--learning-rate: got nan, expected a finite number."),
        (["--init-scale", "inf"], "--init-scale: got inf, expected a finite number."),
        (["--first-seed", "-1"], "expected seeds in [0, 4294967295]"),
        (["--plot", "out.jpg"], "--plot: got 'out.jpg', expected a file name ending in .png."),
    ],
    ids=["no-seeds", "no-steps", "nan-lr", "infinite-scale", "negative-seed", "plot-not-png"],
)
def test_sweep_command_rejects_bad_options_in_one_line(capsys, argv, message):
    assert cli.main(["sweep", "--steps", "5", *argv] if "--steps" not in argv else ["sweep", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert message in captured.err


def test_sweep_command_runs_the_jax_backend_with_the_same_outcomes_as_numpy(capsys):
    pytest.importorskip("jax")
    argv = ["sweep", "--seeds", "24", "--first-seed", "7", "--steps", "800", "--json"]
    # A child process, as a user runs it: the command line end to end.
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck_xor", *argv, "--backend", "jax"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    by_jax = json.loads(done.stdout)
    assert cli.main(argv) == 0
    by_numpy = json.loads(capsys.readouterr().out)
    assert by_jax["backend"] == "jax"
    assert by_jax["counts"] == by_numpy["counts"]
    assert by_jax["predictors"] == by_numpy["predictors"]


def test_sweep_command_without_jax_names_the_extra_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    assert cli.main(["sweep", "--seeds", "2", "--steps", "2", "--backend", "jax"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "gradcheck-xor sweep: error: the jax backend needs JAX, which is not installed: "
        "pip install 'gradcheck-xor[jax]'\n"
    )


# --- one run you can watch: train_one ------------------------------------------------------


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
@given(
    params=strategies.parameters("generic"),
    activation=st.sampled_from(["relu", "leaky_relu", "sigmoid"]),
)
def test_notebook_rule_steps_down_the_gradient_of_half_the_mean_squared_error(params, activation):
    # The notebook's dZ2 = (A2 - Y) * A2 * (1 - A2), divided by m, is the exact gradient of
    # (A2 - Y)^2 / 2 averaged over the samples (relu'(0) = 0 in both), for any hidden
    # activation. Its own sigmoid rounds 1 - A2 near A2 = 1: a few eps per dZ2 element,
    # carried through W2 and A1.
    X, Y = model.xor_data()
    lr = 0.1
    stepped, _ = sweep.train_one(
        params, X, Y, rule="notebook", activation=activation, steps=1, learning_rate=lr
    )
    half_mse = dataclasses.replace(model.network_for(activation), loss="half-mse")
    A1 = nw.forward(half_mse, params, X)["A1"]
    reach = (1.0 + np.max(np.abs(params["W2"]))) * (1.0 + np.max(np.abs(A1)))
    for key, grad in nw.gradients(half_mse, params, X, Y).items():
        applied = (params[key[1:]] - stepped[key[1:]]) / lr
        # the step rounds params - lr * grad: relative to the parameter, an error of eps / lr
        np.testing.assert_allclose(
            applied,
            grad,
            rtol=1e-12,
            atol=16 * EPS * (reach + np.max(np.abs(params[key[1:]])) / lr),
            err_msg=key,
        )


@pytest.mark.parametrize("rule", sweep.RULES)
def test_train_one_keeps_the_loss_before_every_kth_step_of_a_long_run(monkeypatch, rule):
    X, Y = model.xor_data()
    params = model.init_params(0)
    full_params, every_loss = sweep.train_one(params, X, Y, rule=rule, steps=95)
    monkeypatch.setattr(model, "MAX_HISTORY", 10)  # 95 steps is then a long run
    assert model.history_every(95) == 10
    trained, kept = sweep.train_one(params, X, Y, rule=rule, steps=95)
    assert np.array_equal(kept, every_loss[::10])
    for name in model.PARAM_SHAPES:
        assert np.array_equal(trained[name], full_params[name]), name


def test_jax_available_tells_whether_jax_is_installed_without_importing_it(monkeypatch):
    pytest.importorskip("jax")
    check = "import sys; from gradcheck_xor import sweep; print(sweep.jax_available(), 'jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    assert sweep.jax_available() is False
