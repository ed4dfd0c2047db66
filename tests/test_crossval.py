"""Cross-validation: the comparison's measure, its stages and its verdicts, on the notebook's
network and on others. The ``compare`` command's tests are in test_compare_cli.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from comparison_stages import STEPS, XOR_STAGES

from gradcheck_xor import crossval, model
from gradcheck_xor import network as nw

X, Y = model.xor_data()
BOTH_AGREE = {"torch": "agree", "jax": "agree"}


@pytest.fixture(scope="module")
def frameworks(torch_xor, jax_xor) -> tuple[str, ...]:
    """Both frameworks, loaded (or skipped, or failed under CI) by the conftest fixtures."""
    return ("torch", "jax")


def verdicts(comparison: crossval.Comparison) -> dict[str, dict[str, str]]:
    return {stage.name: stage.verdict for stage in comparison.stages}


def deep_network(seed: int = 2) -> tuple[nw.Network, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A 3-layer tanh classifier in the rows layout, on 12 samples of 3 features."""
    net = nw.Network.from_widths((3, 6, 4, 3), hidden="tanh", output="softmax", layout="rows")
    rng = np.random.default_rng(seed)
    params = {key: rng.standard_normal(shape) / 2 for key, shape in net.param_shapes.items()}
    return net, params, rng.standard_normal((12, 3)), rng.integers(0, 3, 12).astype(float)


# --- the measure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "reference", "expected"),
    [
        (np.array([1.0, 200.0]), np.array([1.0, 100.0]), 1.0),  # relative at scale >= 1
        (np.array([1e-3 + 1e-9, 100.0]), np.array([1e-3, 100.0]), 1e-11),  # to the array's scale
        (np.array([1e-14]), np.array([3e-14]), 2e-14),  # absolute below 1
        (np.array([[0.5]]), np.array([[0.5]]), 0.0),
        (np.array([np.nan]), np.array([1.0]), np.inf),  # a NaN in one only never passes
        (np.array([np.nan, np.inf, 3.0]), np.array([np.nan, np.inf, 2.0]), 0.5),  # equal non-finites do
        (2.0, -2.0, 2.0),
    ],
    ids=["relative", "array scale", "absolute near zero", "equal", "nan", "equal non-finite", "scalars"],
)
def test_disagreement_is_relative_to_the_arrays_scale_and_absolute_below_1(actual, reference, expected):
    assert crossval.disagreement(actual, reference) == pytest.approx(expected, rel=1e-6, abs=1e-30)


def test_disagreement_refuses_arrays_of_different_shapes():
    with pytest.raises(ValueError, match=r"Shape mismatch: got \(1, 4\), expected \(4,\)\."):
        crossval.disagreement(np.zeros((1, 4)), np.zeros(4))


# --- the notebook's network ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_from_the_notebooks_initialisation_every_stage_agrees(frameworks, seed):
    comparison = crossval.compare(model.init_params(seed), steps=STEPS, frameworks=frameworks)
    assert [stage.name for stage in comparison.stages] == XOR_STAGES
    assert comparison.network == str(nw.XOR)
    for stage in comparison.stages:
        assert stage.verdict == BOTH_AGREE, stage
        assert all(value <= stage.tolerance for value in stage.disagreement.values()), stage
    assert comparison.ok
    # (0, 0) sits on the kink of both hidden units, and the comparison says so.
    assert comparison.kinks == [{"layer": 1, "unit": 0, "sample": 0}, {"layer": 1, "unit": 1, "sample": 0}]
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
    assert all(table[name] == BOTH_AGREE for name in set(XOR_STAGES) - kinked)
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
        "No hidden Z is exactly 0 at these weights, so the relu'(0) conventions cannot differ here."
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
    assert table["dW1 (BCE rule)"] == BOTH_AGREE
    assert not comparison.ok
    assert "Unexplained differences in 2 stage(s)" in crossval.format_comparison(comparison)


def test_a_framework_whose_maximum_is_not_one_half_is_not_excused_by_the_kink(
    frameworks, torch_xor, monkeypatch
):
    # A difference at the kink counts as explained only if it is exactly the 1/2 term.
    real = torch_xor.gradients

    def quarter_at_the_kink(params, X, Y, *, relu="relu", **kwargs):
        at_zero = real(params, X, Y, relu="relu", **kwargs)
        at_half = real(params, X, Y, relu="maximum", **kwargs)
        return {k: (at_zero[k] + at_half[k]) / 2 for k in at_zero}

    monkeypatch.setattr(torch_xor, "gradients", quarter_at_the_kink)
    comparison = crossval.compare(model.init_params(0), steps=STEPS, relu="maximum", frameworks=frameworks)
    assert verdicts(comparison)["db1 (BCE rule)"] == {"torch": "DIFFER", "jax": "kink"}
    assert not comparison.ok


def test_to_dict_is_plain_json_that_names_the_rate_learning_rate(frameworks):
    comparison = crossval.compare(
        model.init_params(0), steps=STEPS, learning_rate=0.02, frameworks=frameworks
    )
    data = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert data["ok"] is True
    assert data["learning_rate"] == 0.02 and "lr" not in data
    assert data["network"] == str(nw.XOR)
    assert data["versions"].keys() == {"numpy", "torch", "jax"}
    assert [stage["name"] for stage in data["stages"]] == XOR_STAGES


def test_a_non_finite_disagreement_is_written_in_words_in_json():
    stage = crossval.Stage("loss history (BCE rule)", 1e-9, {"torch": np.inf, "jax": np.nan}, {})
    comparison = crossval.Comparison("s", str(nw.XOR), 1, 0.1, "relu", {}, [], [stage], [])
    data = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert data["stages"][0]["disagreement"] == {"torch": "inf", "jax": "nan"}


def test_subnormal_parameters_get_a_note_about_jax_flushing_them_to_zero(frameworks):
    params = {**model.init_params(0, bias=0.1), "b2": np.array([[1e-310]])}
    comparison = crossval.compare(params, steps=STEPS, frameworks=frameworks)
    assert any(note.startswith("b2 hold(s) subnormal numbers") for note in comparison.notes)
    assert not any("subnormal" in note for note in crossval.compare(model.init_params(0), steps=STEPS).notes)


# --- any network ---------------------------------------------------------------------------


def test_a_three_layer_classifier_in_the_rows_layout_agrees_at_every_stage(frameworks):
    net, params, X, Y = deep_network()
    comparison = crossval.compare(
        params, X, Y, net=net, steps=STEPS, learning_rate=0.1, frameworks=frameworks
    )
    assert [stage.name for stage in comparison.stages] == [
        "forward (Z1, A1, Z2, A2, Z3, A3)",
        "loss: mean cross-entropy",
        *(f"{g} (cross-entropy rule)" for g in ("dW1", "db1", "dW2", "db2", "dW3", "db3")),
        f"params after {STEPS} steps (cross-entropy rule)",
        "loss history (cross-entropy rule)",
    ]
    for stage in comparison.stages:
        assert stage.verdict == BOTH_AGREE, stage
    assert comparison.ok and comparison.kinks == [] and comparison.notes == []
    assert (
        comparison.network == "3-6-4-3 network (tanh hidden, softmax output, cross-entropy loss, rows layout)"
    )


def test_the_network_is_read_off_the_parameters_when_not_given(frameworks):
    _, params, X, classes = deep_network()
    one_hot = (classes[:, None] == np.arange(3)).astype(float)
    comparison = crossval.compare(params, X, one_hot, steps=STEPS, frameworks=("torch",))
    # The shapes say 3-6-4-3 in rows; the defaults say relu, sigmoid and bce.
    assert comparison.network == "3-6-4-3 network (relu hidden, sigmoid output, bce loss, rows layout)"


def test_parameters_or_data_that_do_not_fit_the_network_are_refused_in_one_line():
    net, params, X, Y = deep_network()
    with pytest.raises(
        ValueError, match=r"^W2 is missing; expected an array of shape \(6, 4\) for the 3-6-4-3"
    ):
        crossval.compare({k: v for k, v in params.items() if k != "W2"}, X, Y, net=net, frameworks=())
    with pytest.raises(ValueError, match=r"^Y\[0\] is 5.0; expected a class 0 to 2"):
        crossval.compare(params, X, np.full(12, 5.0), net=net, frameworks=())


# --- trajectories that amplify rounding, and trajectories that are wrong ------------------


def chaotic_case() -> tuple[nw.Network, dict[str, np.ndarray]]:
    """A 2-3-1 tanh network on XOR at learning rate 10, whose BCE run amplifies rounding: its
    own run, nudged by one rounding error, ends some 1e-6 away after 1,000 steps."""
    net = nw.Network.from_widths((2, 3, 1), hidden="tanh")
    rng = np.random.default_rng(1)
    return net, {key: rng.standard_normal(shape) for key, shape in net.param_shapes.items()}


def test_a_trajectory_that_amplifies_rounding_is_marked_chaotic_with_its_evidence(frameworks):
    net, params = chaotic_case()
    comparison = crossval.compare(
        params, X, Y, net=net, steps=1000, learning_rate=10.0, frameworks=frameworks
    )
    table = {stage.name: stage for stage in comparison.stages}
    for name in ("params after 1,000 steps (BCE rule)", "loss history (BCE rule)"):
        stage = table[name]
        assert stage.verdict == {"torch": "chaotic", "jax": "chaotic"}, stage
        assert all(value > stage.tolerance for value in stage.disagreement.values()), stage
    for stage in comparison.stages[:-4]:  # the forward pass, the losses, the gradients
        assert stage.verdict == BOTH_AGREE, stage
    assert comparison.ok
    (note,) = [note for note in comparison.notes if "amplifies rounding" in note]
    assert note.startswith("Under the BCE rule, NumPy's own run started one rounding error away ends ")
    assert note.endswith("(fewer --steps or a smaller --learning-rate compares further).")
    assert "agree at every stage but those marked 'chaotic'" in crossval.format_comparison(comparison)


def test_a_framework_that_trains_at_another_rate_is_not_excused_as_chaotic(
    frameworks, torch_xor, monkeypatch
):
    real = torch_xor.train
    monkeypatch.setattr(torch_xor, "train", lambda *a, lr, **k: real(*a, lr=lr * (1 + 1e-6), **k))
    net, params, X, Y = deep_network()
    comparison = crossval.compare(
        params, X, Y, net=net, steps=STEPS, learning_rate=0.1, frameworks=frameworks
    )
    table = verdicts(comparison)
    assert table[f"params after {STEPS} steps (cross-entropy rule)"] == {"torch": "DIFFER", "jax": "agree"}
    assert not comparison.ok


def test_a_run_that_diverges_is_not_compared_past_its_overflow_and_says_so(frameworks):
    net = nw.Network.from_widths((2, 3, 1), hidden="identity", output="identity", loss="sse")
    params = {key: np.full(shape, 1.5) for key, shape in net.param_shapes.items()}
    comparison = crossval.compare(
        params, X, Y, net=net, steps=STEPS, learning_rate=1.0, frameworks=frameworks
    )
    assert comparison.ok
    (note,) = [note for note in comparison.notes if "diverges" in note]
    assert note.startswith(
        "Under the sse rule, NumPy's run diverges: its values overflow to inf or NaN from step "
    )
    assert all(stage.verdict == BOTH_AGREE for stage in comparison.stages[:5])
