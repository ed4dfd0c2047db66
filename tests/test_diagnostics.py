"""Diagnostics: each code fires on the case built for it, says something true, and stays
silent on a healthy solved network; init_codes and diagnose agree."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_xor import model
from gradcheck_xor import notebook as nb
from gradcheck_xor.diagnostics import (
    CODES,
    VANISHING_W2,
    DiagnosticWarning,
    diagnose,
    format_report,
    init_codes,
)
from gradcheck_xor.params_io import load_params
from gradcheck_xor.strategies import parameters

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
X, Y = model.xor_data()  # X (2, 4), Y (1, 4): the corrected model's layout
HEALTHY = {
    k: v for k, v in load_params(EXAMPLES / "healthy_solution.json").items() if k in model.PARAM_SHAPES
}
NOTEBOOK_FINAL = load_params(EXAMPLES / "notebook_final.json")


def _solves_xor(params: dict[str, np.ndarray]) -> bool:
    return bool(np.all((model.predict(params, X) >= 0.5) == (Y >= 0.5)))


def _with(params: dict[str, np.ndarray], **changes: object) -> dict[str, np.ndarray]:
    return {**{k: np.array(v, dtype=np.float64) for k, v in params.items()}, **changes}


def _stack(sets: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([p[k] for p in sets]) for k in model.PARAM_SHAPES}


# The notebook's initialiser over seeds 0-999, labelled in one vectorised call.
SEEDS = 1000
_INITS = _stack([model.init_params(s) for s in range(SEEDS)])
_INIT_CODES = init_codes(_INITS["W1"], _INITS["b1"], _INITS["W2"], _INITS["b2"], nb.inputs, nb.outputs)
DEAD_SEEDS = [int(s) for s in np.flatnonzero(_INIT_CODES["dead-relu"])]
LIVE_SEEDS = [int(s) for s in np.flatnonzero(~_INIT_CODES["dead-relu"])]


# --- each code on a case built for it ---------------------------------------------------------

CASES: list[tuple[str, Callable[[], tuple[dict[str, np.ndarray], np.ndarray | None]], str, str]] = [
    (
        "non-finite",
        lambda: (_with(HEALTHY, W1=np.array([[np.nan, 1.0], [1.0, 1.0]])), None),
        "non-finite",
        "error",
    ),
    ("label-range", lambda: (HEALTHY, np.array([0.0, 2.0, 1.0, 0.0])), "label-range", "error"),
    ("dead unit at init", lambda: (model.init_params(DEAD_SEEDS[0]), None), "dead-relu", "error"),
    (
        "identical units",
        lambda: (
            _with(
                HEALTHY,
                W1=np.array([[1.0, -1.0], [1.0, -1.0]]),
                b1=np.full((2, 1), 0.5),
                W2=np.array([[0.7, 0.7]]),
            ),
            None,
        ),
        "symmetric-units",
        "error",
    ),
    ("tiny W2", lambda: (_with(HEALTHY, W2=HEALTHY["W2"] * 1e-10), None), "vanishing-w2", "warning"),
    ("every unit active", lambda: (model.init_params(0, bias=0.5), None), "linear-hidden-layer", "warning"),
    (
        "huge logits",
        lambda: (_with(HEALTHY, W2=10 * HEALTHY["W2"], b2=10 * HEALTHY["b2"]), None),
        "sigmoid-saturation",
        "warning",
    ),
    ("labels (1, m)", lambda: (HEALTHY, Y), "loss-normalization", "error"),
    ("labels (m,)", lambda: (HEALTHY, Y.ravel()), "loss-normalization", "info"),
    ("notebook's b1 = 0", lambda: (model.init_params(0), None), "relu-kink", "info"),
]


@pytest.mark.parametrize(("build", "code", "severity"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_code_fires_on_the_case_built_for_it_at_its_severity(
    build: Callable[[], tuple[dict[str, np.ndarray], np.ndarray | None]], code: str, severity: str
) -> None:
    params, labels = build()
    report = diagnose(params, Y=labels)
    found = {f.code: f for f in report.findings}
    assert code in found, report.codes
    assert found[code].severity == severity
    assert "\n" not in found[code].message and found[code].message
    assert report.ok == all(f.severity == "info" for f in report.findings)


def test_every_code_has_a_case_in_the_table() -> None:
    assert {c[2] for c in CASES} == set(CODES)


def test_a_healthy_solved_network_reports_nothing_above_info() -> None:
    assert _solves_xor(HEALTHY)
    report = diagnose(HEALTHY)
    assert report.ok
    # The only note is the notebook's loss normalisation, which applies to any 1-D labels.
    assert [(f.code, f.severity) for f in report.findings] == [("loss-normalization", "info")]
    assert diagnose(HEALTHY, notebook_loss=False).findings == []
    assert report.summary["solved"] and report.summary["loss"] < 1e-3


def test_the_notebooks_printed_final_parameters_give_vanishing_w2_and_linear_hidden_layer() -> None:
    report = diagnose(NOTEBOOK_FINAL)
    severities = {f.code: f.severity for f in report.findings}
    assert severities == {
        "vanishing-w2": "error",
        "linear-hidden-layer": "error",
        "loss-normalization": "info",
    }
    assert not report.ok
    np.testing.assert_allclose(report.summary["predictions"], [0.5, 0.5, 0.5, 0.5], atol=1e-15)
    assert report.summary["loss"] == pytest.approx(np.log(2), abs=1e-12)


# --- what each code claims is true ------------------------------------------------------------


@given(parameters(regime="dead-unit"))
def test_a_dead_unit_is_flagged_and_its_gradient_is_exactly_zero_under_both_rules(
    params: dict[str, np.ndarray],
) -> None:
    finding = next(f for f in diagnose(params).findings if f.code == "dead-relu")
    grads = model.gradients(params, X, Y)
    A1, A2 = nb.forward_propagation(X, params)
    nb_grads = nb.backword_propagation(params, A1, A2, X, Y)
    for unit in finding.evidence["units"]:
        for g in (grads, nb_grads):
            assert np.all(g["dW1"][unit] == 0.0) and g["db1"][unit, 0] == 0.0


def test_dead_units_at_the_notebooks_initialisation_match_the_issue_figure() -> None:
    # Over seeds 0-999, 432 draws (43.2%) start with a unit dead on all four inputs; with
    # b1 = 0 a unit is dead exactly when both its weights are <= 0, probability 1 - (3/4)^2.
    assert len(DEAD_SEEDS) == 432
    assert abs(len(DEAD_SEEDS) / SEEDS - 7 / 16) < 0.02
    assert not _INIT_CODES["vanishing-w2"].any(), "randn output weights are never flagged"
    assert _INIT_CODES["relu-kink"].all(), "b1 = 0 puts sample (0, 0) on the kink for every draw"


def test_a_dead_unit_gets_exactly_zero_gradient_for_every_flagged_seed() -> None:
    for seed in DEAD_SEEDS:
        params = model.init_params(seed)
        dead = np.all(params["W1"] @ X + params["b1"] <= 0, axis=1)
        grads = model.gradients(params, X, Y)
        assert dead.any()
        assert np.all(grads["dW1"][dead] == 0.0) and np.all(grads["db1"][dead] == 0.0), seed


@pytest.mark.parametrize("seed", DEAD_SEEDS[:4])
def test_training_from_a_flagged_initialisation_never_solves_xor(seed: int) -> None:
    initial = model.init_params(seed)
    dead = np.flatnonzero(np.all(initial["W1"] @ X + initial["b1"] <= 0, axis=1))
    # The corrected BCE model with a large learning rate: 20,000 steps at 0.5 go further
    # than the notebook's 200,000 at 0.01.
    final, _ = model.train(initial, X, Y, steps=20_000, learning_rate=0.5, diagnostics=False)
    assert not _solves_xor(final)
    np.testing.assert_array_equal(final["W1"][dead], initial["W1"][dead])
    np.testing.assert_array_equal(final["b1"][dead], initial["b1"][dead])
    if seed in DEAD_SEEDS[:2]:  # the notebook's own rule, as it ran
        nb_final, _ = nb.train(initial, iterations=20_000)
        assert not _solves_xor(nb_final)


def test_the_same_training_solves_xor_from_an_unflagged_initialisation() -> None:
    # The control for the test above: the budget is enough when no unit is dead.
    assert LIVE_SEEDS[0] == 0
    final, _ = model.train(model.init_params(0), X, Y, steps=20_000, learning_rate=0.5, diagnostics=False)
    assert _solves_xor(final)


def test_identical_units_stay_identical_through_training() -> None:
    params = _with(
        HEALTHY, W1=np.array([[1.0, -1.0], [1.0, -1.0]]), b1=np.full((2, 1), 0.5), W2=np.array([[0.7, 0.7]])
    )
    final, _ = model.train(params, X, Y, steps=500, learning_rate=0.5, diagnostics=False)
    np.testing.assert_array_equal(final["W1"][0], final["W1"][1])
    assert final["b1"][0, 0] == final["b1"][1, 0] and final["W2"][0, 0] == final["W2"][0, 1]
    assert "symmetric-units" in diagnose(final).codes


def test_zero_initialisation_is_flagged_as_symmetric_dead_and_vanishing() -> None:
    zeros = {k: np.zeros(shape) for k, shape in model.PARAM_SHAPES.items()}
    assert {"symmetric-units", "dead-relu", "vanishing-w2"} <= set(diagnose(zeros).codes)


def test_the_vanishing_w2_threshold_is_sqrt_eps() -> None:
    assert np.sqrt(np.finfo(np.float64).eps) == VANISHING_W2
    above = _with(HEALTHY, W2=np.array([[2 * VANISHING_W2, -3.0]]))
    below = _with(HEALTHY, W2=np.array([[0.5 * VANISHING_W2, -3.0]]))
    assert "vanishing-w2" not in diagnose(above).codes
    finding = next(f for f in diagnose(below).findings if f.code == "vanishing-w2")
    assert finding.evidence["units"] == [0]


def test_the_notebooks_final_state_is_stuck_under_the_corrected_rule_too() -> None:
    # Why vanishing-w2 with a linear hidden layer is an error: from there even the exact
    # gradient keeps W2 near zero and every prediction at 0.5.
    params = {k: NOTEBOOK_FINAL[k] for k in model.PARAM_SHAPES}
    final, losses = model.train(params, X, Y, steps=5_000, learning_rate=0.5, diagnostics=False)
    assert np.max(np.abs(final["W2"])) < VANISHING_W2
    assert losses[-1] == pytest.approx(np.log(2), abs=1e-9)


def test_labels_of_shape_1_m_make_the_notebooks_loss_m_times_the_mean() -> None:
    A2 = model.predict(HEALTHY, X)
    mean_bce = model.loss(HEALTHY, X, Y)
    assert nb.compute_loss(Y, A2) == pytest.approx(4 * mean_bce, rel=1e-9)
    assert nb.compute_loss(Y.ravel(), A2) == pytest.approx(mean_bce, rel=1e-9)
    finding = next(f for f in diagnose(HEALTHY, Y=Y).findings if f.code == "loss-normalization")
    assert finding.evidence == {"labels_shape": [1, 4], "loss_divisor": 1, "backward_divisor": 4}


def test_at_a_flagged_kink_central_differences_disagree_with_the_backward() -> None:
    params = model.init_params(0)  # b1 = 0: both units at Z1 = 0 on sample (0, 0)
    finding = next(f for f in diagnose(params).findings if f.code == "relu-kink")
    assert finding.evidence["samples"] == [0, 0] and finding.evidence["units"] == [0, 1]
    h = 1e-6
    plus, minus = _with(params), _with(params)
    plus["b1"][0, 0] += h
    minus["b1"][0, 0] -= h
    numeric = (model.loss(plus, X, Y) - model.loss(minus, X, Y)) / (2 * h)
    analytic = model.gradients(params, X, Y)["db1"][0, 0]
    assert abs(numeric - analytic) > 1e-3


@given(parameters(regime="near-kink"))
def test_a_pre_activation_near_but_off_the_kink_is_not_flagged(params: dict[str, np.ndarray]) -> None:
    # The regime puts one Z1 between 1e-4 and 1e-3 from 0; only Z1 that are 0 up to rounding
    # (for instance a unit whose weights the draw made all zero) may be flagged.
    Z1 = params["W1"] @ X + params["b1"]
    near = (np.abs(Z1) > 0.9e-4) & (np.abs(Z1) < 1.1e-3)  # the regime's band, give or take rounding
    assert near.any()
    for finding in diagnose(params).findings:
        if finding.code == "relu-kink":
            flagged = Z1[finding.evidence["units"], finding.evidence["samples"]]
            assert np.all(np.abs(flagged) < 1e-12)


def test_saturation_is_where_the_notebooks_log_and_backward_break() -> None:
    # One sample confidently wrong: Z2 = +40 for a label 0.
    params = _with(
        HEALTHY, W1=np.eye(2), b1=np.zeros((2, 1)), W2=np.array([[20.0, 20.0]]), b2=np.zeros((1, 1))
    )
    finding = next(f for f in diagnose(params).findings if f.code == "sigmoid-saturation")
    assert finding.evidence["samples"] == [3] and finding.evidence["confidently_wrong"] == [3]
    _, A2 = nb.forward_propagation(X, params)
    assert A2[0, 3] == 1.0
    with np.errstate(divide="ignore"):
        assert nb.compute_loss(Y.ravel(), A2) == np.inf
    dZ2 = (A2 - Y) * A2 * (1 - A2)  # the notebook's backward
    assert dZ2[0, 3] == 0.0
    just_below = _with(params, W2=np.array([[18.0, 18.0]]))  # Z2 = 36 at (1, 1): A2 < 1
    assert "sigmoid-saturation" not in diagnose(just_below).codes


def test_non_finite_values_are_reported_alone_and_the_report_stays_valid_json() -> None:
    report = diagnose(
        _with(HEALTHY, b2=np.array([[np.inf]])),
        X=np.array([[0.0, np.nan], [1.0, 1.0]]),
        Y=np.array([0.0, 1.0]),
    )
    assert {f.code for f in report.findings if f.severity != "info"} == {"non-finite"}
    finding = report.findings[0]
    assert finding.evidence == {"non_finite_counts": {"b2": 1, "X": 1}}
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert json.loads(text)["findings"][0]["code"] == "non-finite"


# --- one implementation: init_codes and diagnose agree ---------------------------------------


@settings(max_examples=25)
@given(
    st.lists(
        st.sampled_from(["generic", "near-kink", "dead-unit", "saturated"]).flatmap(parameters),
        min_size=1,
        max_size=6,
    )
)
def test_init_codes_agrees_with_diagnose_for_every_set_in_a_batch(sets: list[dict[str, np.ndarray]]) -> None:
    batch = _stack(sets)
    codes = init_codes(batch["W1"], batch["b1"], batch["W2"], batch["b2"], X, Y)
    for i, params in enumerate(sets):
        fired = {code for code, flags in codes.items() if flags[i]}
        assert fired == set(diagnose(params, Y=Y).codes)


def test_init_codes_names_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"Shape mismatch for b1: got \(3, 2\), expected \(3, 2, 1\)"):
        init_codes(np.zeros((3, 2, 2)), np.zeros((3, 2)), np.zeros((3, 1, 2)), np.zeros((3, 1, 1)), X, Y)


# --- reports for people, and warnings before training ------------------------------------------


def test_the_readable_report_says_what_why_and_what_to_do_for_each_finding() -> None:
    text = format_report(diagnose(NOTEBOOK_FINAL), "notebook_final.json")
    assert text.splitlines()[0] == "gradcheck-xor diagnose: notebook_final.json"
    assert "outputs 0.5000 0.5000 0.5000 0.5000 for targets 0 1 1 0" in text
    for code in ("vanishing-w2", "linear-hidden-layer", "loss-normalization"):
        assert f" {code}: " in text
    assert text.count("  why: ") == text.count("  fix: ") == 3
    assert text.rstrip().endswith(
        "2 error(s), 0 warning(s), 1 note(s): training from these parameters will go wrong."
    )


def test_training_warns_of_a_dead_unit_before_the_first_step() -> None:
    seen_at_first_step: list[int] = []

    def on_step(i: int, loss: float) -> None:
        if i == 0:
            seen_at_first_step.append(len(caught))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.train(model.init_params(DEAD_SEEDS[0]), X, Y, steps=3, on_step=on_step)
    messages = [str(w.message) for w in caught if issubclass(w.category, DiagnosticWarning)]
    assert len(messages) == 1 and messages[0].startswith("dead-relu (error): hidden unit 1 is dead")
    assert seen_at_first_step == [1]
    assert caught[0].filename == __file__, "the warning points at the caller of train"


def test_training_diagnostics_can_be_turned_off_and_stay_quiet_on_a_healthy_draw() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiagnosticWarning)
        model.train(model.init_params(DEAD_SEEDS[0]), X, Y, steps=3, diagnostics=False)
        model.train(model.init_params(0), X, Y, steps=3)  # only info-level notes: no warning
