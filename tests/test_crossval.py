"""Cross-validation: the comparison's measure, its verdicts, and the ``compare`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck_xor import crossval, model, notebook
from gradcheck_xor.cli import main
from gradcheck_xor.params_io import save_params

X, Y = model.xor_data()
STEPS = 50  # one length everywhere, so JAX compiles each training scan once
STAGES = [
    "forward (Z1, A1, Z2, A2)",
    "loss: mean BCE",
    "loss: 1/2 mean (A2 - Y)^2",
    *(f"{g} (BCE rule)" for g in ("dW1", "db1", "dW2", "db2")),
    *(f"{g} (notebook rule)" for g in ("dW1", "db1", "dW2", "db2")),
    f"params after {STEPS} steps (BCE rule)",
    "loss history (BCE rule)",
    f"params after {STEPS} steps (notebook rule)",
    "loss history (notebook rule)",
]


@pytest.fixture(scope="module")
def frameworks(torch_xor, jax_xor) -> tuple[str, ...]:
    """Both frameworks, loaded (or skipped, or failed under CI) by the conftest fixtures."""
    return ("torch", "jax")


def verdicts(comparison: crossval.Comparison) -> dict[str, dict[str, str]]:
    return {stage.name: stage.verdict for stage in comparison.stages}


# --- the measure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "reference", "expected"),
    [
        (np.array([1.0, 200.0]), np.array([1.0, 100.0]), 1.0),  # relative at magnitude >= 1
        (np.array([1e-14]), np.array([3e-14]), 2e-14),  # absolute below 1
        (np.array([[0.5]]), np.array([[0.5]]), 0.0),
        (np.array([np.nan]), np.array([1.0]), np.inf),  # a NaN never passes
        (2.0, -2.0, 2.0),
    ],
    ids=["relative", "absolute near zero", "equal", "nan", "scalars"],
)
def test_disagreement_is_relative_above_magnitude_1_and_absolute_below(actual, reference, expected):
    assert crossval.disagreement(actual, reference) == pytest.approx(expected, rel=1e-12, abs=1e-30)


def test_disagreement_refuses_arrays_of_different_shapes():
    with pytest.raises(ValueError, match=r"Shape mismatch: got \(1, 4\), expected \(4,\)\."):
        crossval.disagreement(np.zeros((1, 4)), np.zeros(4))


@given(seed=st.integers(0, 2**32 - 1), lr=st.sampled_from([0.01, 0.5]))
def test_the_numpy_notebook_rule_loop_is_notebook_train_bit_for_bit(seed, lr):
    params = model.init_params(seed)
    ours, _ = crossval._numpy_train(params, X, Y, "notebook", 30, lr, lambda i, loss: None)
    theirs, _ = notebook.train(params, iterations=30, learning_rate=lr)
    for name in model.PARAM_SHAPES:
        np.testing.assert_array_equal(ours[name], theirs[name])


# --- compare() --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_from_the_notebooks_initialisation_every_stage_agrees(frameworks, seed):
    comparison = crossval.compare(model.init_params(seed), steps=STEPS, frameworks=frameworks)
    assert [stage.name for stage in comparison.stages] == STAGES
    for stage in comparison.stages:
        assert stage.verdict == {"torch": "agree", "jax": "agree"}, stage
        assert all(value <= stage.tolerance for value in stage.disagreement.values()), stage
    assert comparison.ok
    # (0, 0) sits on the kink of both hidden units, and the comparison says so.
    assert comparison.kinks == [{"unit": 0, "sample": 0}, {"unit": 1, "sample": 0}]
    assert "torch.maximum and jnp.maximum take 1/2" in comparison.notes[0]


def test_with_the_maximum_relu_the_kink_differences_are_explained_not_failed(frameworks):
    comparison = crossval.compare(model.init_params(0), steps=STEPS, relu="maximum", frameworks=frameworks)
    table = verdicts(comparison)
    kinked = {name for name, verdict in table.items() if verdict == {"torch": "kink", "jax": "kink"}}
    # Sample (0, 0) has X = 0, so only db1 sees relu'(0); the trajectories follow from it.
    assert kinked == {
        "db1 (BCE rule)",
        "db1 (notebook rule)",
        f"params after {STEPS} steps (BCE rule)",
        "loss history (BCE rule)",
        f"params after {STEPS} steps (notebook rule)",
        "loss history (notebook rule)",
    }
    assert all(table[name] == {"torch": "agree", "jax": "agree"} for name in set(STAGES) - kinked)
    assert comparison.ok
    db1 = next(stage for stage in comparison.stages if stage.name == "db1 (BCE rule)")
    assert db1.disagreement["torch"] > 1e-3
    assert "Stages marked 'kink' differ by exactly that term" in comparison.notes[0]


def test_off_the_kink_the_maximum_relu_agrees_and_the_note_says_why(frameworks):
    comparison = crossval.compare(
        model.init_params(0, bias=0.1), steps=STEPS, relu="maximum", frameworks=frameworks
    )
    assert comparison.kinks == []
    assert all(v == "agree" for stage in comparison.stages for v in stage.verdict.values())
    assert comparison.notes == [
        "No Z1 is exactly 0 at these weights, so the relu'(0) conventions cannot differ here."
    ]


def test_a_wrong_gradient_in_one_framework_is_reported_as_differ(frameworks, jax_xor, monkeypatch):
    real = jax_xor.gradients

    def doubled_dW2(*args, **kwargs):
        grads = real(*args, **kwargs)
        return {**grads, "dW2": 2 * grads["dW2"]}

    monkeypatch.setattr(jax_xor, "gradients", doubled_dW2)
    comparison = crossval.compare(model.init_params(0), steps=STEPS, frameworks=frameworks)
    table = verdicts(comparison)
    assert table["dW2 (BCE rule)"] == {"torch": "agree", "jax": "DIFFER"}
    assert table["dW2 (notebook rule)"] == {"torch": "agree", "jax": "DIFFER"}
    assert table["dW1 (BCE rule)"] == {"torch": "agree", "jax": "agree"}
    assert not comparison.ok
    assert "Unexplained differences in 2 stage(s)" in crossval.format_comparison(comparison)


def test_a_framework_whose_maximum_is_not_one_half_is_not_excused_by_the_kink(
    frameworks, torch_xor, monkeypatch
):
    # A difference at the kink counts as explained only if it is exactly the 1/2 term.
    real = torch_xor.gradients

    def quarter_at_the_kink(params, X, Y, *, rule="bce", relu="relu", **kwargs):
        at_zero = real(params, X, Y, rule=rule, relu="relu", **kwargs)
        at_half = real(params, X, Y, rule=rule, relu="maximum", **kwargs)
        return {k: (at_zero[k] + at_half[k]) / 2 for k in at_zero}

    monkeypatch.setattr(torch_xor, "gradients", quarter_at_the_kink)
    comparison = crossval.compare(model.init_params(0), steps=STEPS, relu="maximum", frameworks=frameworks)
    assert verdicts(comparison)["db1 (BCE rule)"] == {"torch": "DIFFER", "jax": "kink"}
    assert not comparison.ok


def test_to_dict_is_plain_json(frameworks):
    comparison = crossval.compare(model.init_params(0), steps=STEPS, frameworks=frameworks)
    data = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert data["ok"] is True
    assert data["versions"].keys() == {"numpy", "torch", "jax"}
    assert [stage["name"] for stage in data["stages"]] == STAGES


# --- the compare command -------------------------------------------------------------


def test_compare_prints_every_stage_side_by_side_and_exits_0(frameworks, capsys):
    assert main(["compare", "--seed", "0", "--steps", str(STEPS)]) == 0
    out = capsys.readouterr().out
    assert "source: seed 0 (the notebook's initialiser)" in out
    header = next(line for line in out.splitlines() if line.startswith("largest |x - numpy|"))
    assert header.split()[-3:] == ["PyTorch", "JAX", "tolerance"]
    for name in STAGES:
        row = next(line for line in out.splitlines() if line.startswith(name))
        assert row.split()[-4:-1:2] == ["ok", "ok"], row
    assert out.rstrip().endswith("NumPy and PyTorch and JAX agree at every stage.")


def test_compare_json_writes_only_json(frameworks, capsys):
    assert main(["compare", "--steps", str(STEPS), "--relu", "maximum", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["relu"] == "maximum" and data["ok"] is True
    assert data["stages"][4]["verdict"] == {"torch": "kink", "jax": "kink"}
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


_BAD_OPTIONS = {
    "zero steps": (["--steps", "0"], "--steps: got 0, expected a positive integer."),
    "nan learning rate": (["--learning-rate", "nan"], "--learning-rate: got nan, expected a finite number."),
    "missing file": (
        ["--params", "missing.json"],
        "missing.json: the file cannot be read (No such file or directory); expected a readable file.",
    ),
    "wrong shape": (
        ["--params", "{wrong_shape}"],
        "{wrong_shape}: key 'W1' has shape (1, 2); expected shape (2, 2).",
    ),
}


@pytest.mark.parametrize(("options", "message"), list(_BAD_OPTIONS.values()), ids=list(_BAD_OPTIONS))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_compare_rejects_unusable_input_with_one_line_and_exit_2(
    options, message, as_json, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    wrong_shape = tmp_path / "wrong_shape.json"
    wrong_shape.write_text('{"W1": [[1, 2]], "b1": [0, 0], "W2": [[1, 1]], "b2": 0}')
    options = [option.format(wrong_shape=wrong_shape) for option in options]
    message = message.format(wrong_shape=wrong_shape)
    assert main(["compare", *options, *(["--json"] if as_json else [])]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"gradcheck-xor compare: error: {message}\n"
    if as_json:
        source = {"source": options[1]} if options[0] == "--params" else {}  # the file it is about
        assert json.loads(captured.out) == {**source, "ok": False, "error": message}
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


def test_subnormal_parameters_get_a_note_about_jax_flushing_them_to_zero(frameworks):
    params = {**model.init_params(0, bias=0.1), "b2": np.array([[1e-310]])}
    comparison = crossval.compare(params, steps=STEPS, frameworks=frameworks)
    assert any(note.startswith("b2 hold(s) subnormal numbers") for note in comparison.notes)
    assert not any("subnormal" in note for note in crossval.compare(model.init_params(0), steps=STEPS).notes)
