"""The PyTorch and JAX references agree with the NumPy code, stage by stage.

Tests taking ``impl`` run once per framework. Each stage (forward pass, each loss, each
gradient) has its own assertion, so a failure names the stage. Trajectories are in
``test_reference_trajectories.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gradcheck_xor import model, notebook, strategies
from gradcheck_xor import network as nw

X, Y = model.xor_data()
GRADS = ("dW1", "db1", "dW2", "db2")
LN2 = float(np.log(2.0))


def numpy_loss_and_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, rule: str
) -> tuple[float, dict[str, np.ndarray]]:
    """The NumPy reference: the corrected model for "bce", the notebook's own code for
    "notebook" (its backward is the exact gradient of 1/2 * mean((A2 - Y)^2))."""
    if rule == "bce":
        return model.loss_and_gradients(params, X, Y)
    A1, A2 = notebook.forward_propagation(X, params)
    Y = model.as_labels(Y, X.shape[1])
    return float(0.5 * np.mean((A2 - Y) ** 2)), notebook.backword_propagation(params, A1, A2, X, Y)


def assume_no_subnormals(impl: ModuleType, params: dict[str, np.ndarray], X: np.ndarray) -> None:
    """XLA on CPU flushes subnormal numbers (0 < |x| < 2.2e-308) to zero, so JAX sees a
    parameter or pre-activation that small as exactly 0, which moves it onto the ReLU
    kink. A documented difference of the platform, not of the code: leave such draws out."""
    if impl.__name__.endswith("jax_xor"):
        cache = model.forward(params, X)
        values = np.concatenate([np.ravel(v) for v in (*params.values(), cache["Z1"], cache["Z2"])])
        assume(not np.any((values != 0) & (np.abs(values) < np.finfo(np.float64).tiny)))


def assert_stages_agree(impl: ModuleType, params: dict, X: np.ndarray, Y: np.ndarray, dtype: str, tol: float):
    # Relative tolerance, with the same number as an absolute floor for values near zero.
    reference = model.forward(params, X)
    forward = impl.forward(params, X, dtype=dtype)
    for name in ("Z1", "A1", "Z2", "A2"):
        np.testing.assert_allclose(
            forward[name], reference[name], rtol=tol, atol=tol, err_msg=f"forward {name}"
        )
    for rule in ("bce", "notebook"):
        ref_loss, ref_grads = numpy_loss_and_gradients(params, X, Y, rule)
        np.testing.assert_allclose(
            impl.loss(params, X, Y, rule=rule, dtype=dtype),
            ref_loss,
            rtol=tol,
            atol=tol,
            err_msg=f"loss ({rule})",
        )
        grads = impl.gradients(params, X, Y, rule=rule, dtype=dtype)
        assert set(grads) == set(GRADS)
        for name in GRADS:
            assert grads[name].shape == ref_grads[name].shape, f"{name} ({rule}) shape"
            np.testing.assert_allclose(
                grads[name], ref_grads[name], rtol=tol, atol=tol, err_msg=f"{name} ({rule})"
            )


# --- one evaluation: forward, loss, gradients -------------------------------------------


@pytest.mark.parametrize("regime", strategies.REGIMES)
@given(data=st.data())
def test_forward_losses_and_gradients_agree_with_numpy_to_1e_12_in_every_regime(impl, regime, data):
    params = data.draw(strategies.parameters(regime), label="params")
    assume_no_subnormals(impl, params, X)
    assert_stages_agree(impl, params, X, Y, "float64", 1e-12)


@pytest.mark.parametrize("regime", strategies.REGIMES)
@settings(max_examples=20)
@given(data=st.data())
def test_float32_agrees_with_float64_numpy_to_float32_tolerance(impl, regime, data):
    params = data.draw(strategies.parameters(regime), label="params")
    # Compare at the parameters float32 can hold, and skip draws with a Z1 so close to the
    # kink that float32 rounding may move it across (e.g. a weight of 1e-200 becomes 0).
    params = {name: value.astype(np.float32).astype(np.float64) for name, value in params.items()}
    Z1 = model.forward(params, X)["Z1"]
    assume(np.all((Z1 == 0) | (np.abs(Z1) > 1e-4)))
    forward = impl.forward(params, X, dtype="float32")
    assert all(value.dtype == np.float32 for value in forward.values())
    # float32 resolves about 1e-7 near 1, where a saturated sigmoid minus its label cancels;
    # |W2| up to ~60 then scales that rounding into the gradients: allow 1e-4.
    assert_stages_agree(impl, params, X, Y, "float32", 1e-4)


@settings(max_examples=10)
@given(data=st.data())
def test_agreement_holds_on_other_datasets_and_label_layouts(impl, data):
    # Up to 5 samples: JAX compiles once per shape, and that is what costs time here.
    X, Y = data.draw(strategies.datasets(max_samples=5), label="data")
    params = data.draw(strategies.parameters("generic", X=X), label="params")
    assume_no_subnormals(impl, params, X)
    assert_stages_agree(impl, params, X, Y, "float64", 1e-12)
    assert_stages_agree(impl, params, X, Y.reshape(1, -1), "float64", 1e-12)


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=20)
def test_at_the_notebooks_kink_relu_takes_derivative_0_and_maximum_takes_one_half(impl, seed):
    # The notebook's zero b1 puts sample (0, 0) on the kink (Z1 = 0) for every draw.
    params = model.init_params(seed)
    cache = model.forward(params, X)
    assert np.all(cache["Z1"][:, 0] == 0.0)
    for rule in ("bce", "notebook"):
        _, reference = numpy_loss_and_gradients(params, X, Y, rule)
        with_relu = impl.gradients(params, X, Y, rule=rule, relu="relu")
        with_maximum = impl.gradients(params, X, Y, rule=rule, relu="maximum")
        np.testing.assert_allclose(with_relu["db1"], reference["db1"], rtol=1e-12, atol=1e-12)
        # maximum adds relu'(0) = 1/2 times the upstream gradient at the kink sample; X[:, 0]
        # is (0, 0), so dW1 does not see it and only db1 changes.
        A2 = cache["A2"]
        dZ2 = (A2 - Y) / 4 if rule == "bce" else (A2 - Y) * A2 * (1 - A2) / 4
        kink_term = 0.5 * params["W2"].T * dZ2[0, 0]
        np.testing.assert_allclose(with_maximum["db1"], reference["db1"] + kink_term, rtol=1e-12, atol=1e-12)
        for name in ("dW1", "dW2", "db2"):
            np.testing.assert_allclose(with_maximum[name], reference[name], rtol=1e-12, atol=1e-12)


# --- each framework's own form ------------------------------------------------------


def test_state_dict_uses_the_agreed_keys_and_round_trips(torch_xor):
    import torch

    params = model.init_params(3, bias=0.25)
    state = torch_xor.to_state_dict(params)
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    assert shapes == {
        "layers.0.weight": (2, 2),
        "layers.0.bias": (2,),
        "layers.1.weight": (1, 2),
        "layers.1.bias": (1,),
    }
    assert all(value.dtype == torch.float64 for value in state.values())
    net = torch_xor.XorNet().double()
    net.load_state_dict(state)
    back = torch_xor.from_state_dict(net.state_dict())
    assert set(back) == set(model.PARAM_SHAPES)
    for name in model.PARAM_SHAPES:
        assert back[name].shape == params[name].shape
        np.testing.assert_array_equal(back[name], params[name])
    logits = net(torch.tensor(X.T)).detach().numpy()
    np.testing.assert_allclose(logits.T, model.forward(params, X)["Z2"], rtol=1e-12, atol=1e-12)


def test_building_the_torch_net_leaves_torchs_random_state_alone(torch_xor):
    import torch

    before = torch.random.get_rng_state()
    torch_xor.make_net(model.init_params(0))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_pytree_round_trips_in_float64(jax_xor):
    params = model.init_params(3, bias=0.25)
    tree = jax_xor.to_pytree(params)
    assert set(tree) == set(model.PARAM_SHAPES)
    assert all(str(leaf.dtype) == "float64" for leaf in tree.values())
    back = jax_xor.from_pytree(tree)
    for name in model.PARAM_SHAPES:
        np.testing.assert_array_equal(back[name], params[name])


def test_jax_computes_in_float64_without_changing_the_callers_x64_setting(jax_xor):
    import jax
    import jax.numpy as jnp

    setting = jax.config.jax_enable_x64
    jax_xor.train(model.init_params(0), X, Y, steps=3, lr=0.01)
    grads = jax_xor.gradients(model.init_params(0), X, Y)
    assert grads["dW1"].dtype == np.float64
    assert jax.config.jax_enable_x64 == setting
    with jax_xor.float64():
        assert jnp.zeros(1).dtype == jnp.float64
    assert jax.config.jax_enable_x64 == setting
    if not setting:
        assert jnp.zeros(1).dtype == jnp.float32


# --- bad input ------------------------------------------------------------------------

COLUMNS = "(columns layout: W_l is (n_l, n_{l-1}))"
_BAD_CALLS = {
    "missing parameter": (
        lambda impl: impl.forward({"W1": np.zeros((2, 2))}, X, net=nw.XOR),
        "b1 is missing; expected an array of shape (2, 1) for the 2-2-1 network "
        "(relu hidden, sigmoid output, bce loss, columns layout).",
    ),
    "layers that do not chain": (
        lambda impl: impl.forward({**model.init_params(0), "W2": np.zeros((1, 3))}, X),
        f"W2 has shape (1, 3); expected (1, 2) to follow W1 (2, 2) {COLUMNS}.",
    ),
    "W2 given as a vector": (
        lambda impl: impl.loss({**model.init_params(0), "W2": np.zeros(2)}, X, Y),
        "W2 has shape (2,); expected a 2-D array with at least one unit.",
    ),
    "X with samples along rows": (
        lambda impl: impl.gradients(model.init_params(0), X.T[:3], Y),
        f"X has shape (3, 2); expected (2, m) for W1 {COLUMNS}.",
    ),
    "labels of the wrong length": (
        lambda impl: impl.gradients(model.init_params(0), X, Y[:, :3]),
        "Y has shape (1, 3); expected (1, 4) or (4,) for 4 samples and 1 output (columns layout).",
    ),
    "a rule for another output": (
        lambda impl: impl.gradients(
            model.init_params(0), X, Y, net=nw.Network.from_widths((2, 2, 2), output="softmax"), rule="bce"
        ),
        "loss='bce' does not go with output='softmax'; expected cross-entropy, cross-entropy-sum, "
        "mse, half-mse, sse, half-sse, sse-per-sample, half-sse-per-sample.",
    ),
    "unknown rule": (
        lambda impl: impl.train(model.init_params(0), X, Y, steps=1, lr=0.1, rule="mse"),
        "Unknown rule 'mse': expected one of bce, notebook.",
    ),
    "unknown relu": (
        lambda impl: impl.gradients(model.init_params(0), X, Y, relu="leaky"),
        "Unknown relu 'leaky': expected one of relu, maximum.",
    ),
    "unknown dtype": (
        lambda impl: impl.forward(model.init_params(0), X, dtype="float16"),
        "Unknown dtype 'float16': expected one of float64, float32.",
    ),
}


@pytest.mark.parametrize(("call", "message"), list(_BAD_CALLS.values()), ids=list(_BAD_CALLS))
def test_bad_input_raises_one_value_error_naming_what_was_expected(impl, call, message):
    with pytest.raises(ValueError) as excinfo:
        call(impl)
    assert str(excinfo.value) == message


# --- imports ------------------------------------------------------------------------


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_importing_reference_impls_and_crossval_imports_neither_torch_nor_jax():
    result = _python(
        "import sys, reference_impls, gradcheck_xor.crossval, gradcheck_xor.cli\n"
        "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("framework", "module", "message"),
    [
        ("torch", "torch_xor", "PyTorch is not installed: pip install 'gradcheck-xor[torch]'"),
        ("jax", "jax_xor", "JAX is not installed: pip install 'gradcheck-xor[jax]'"),
    ],
    ids=["torch", "jax"],
)
def test_a_missing_framework_raises_one_line_naming_the_extra(framework, module, message):
    # None in sys.modules makes "import torch" fail as if it were not installed.
    result = _python(
        f"import sys; sys.modules[{framework!r}] = None\n"
        "import reference_impls\n"
        "try:\n"
        f"    reference_impls.{module}\n"
        "except reference_impls.MissingFrameworkError as exc:\n"
        "    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == message + "\n"


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", "1 error"), (None, "1 skipped")], ids=["CI set", "CI unset"]
)
def test_a_missing_framework_fails_the_suite_in_ci_and_skips_elsewhere(ci, outcome):
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    test_id = f"{__file__}::test_building_the_torch_net_leaves_torchs_random_state_alone"
    result = _python(
        "import sys; sys.modules['torch'] = None\n"
        "import pytest\n"
        f"sys.exit(pytest.main([{test_id!r}, '-q', '-p', 'no:cacheprovider', '-rfs']))\n",
        env=env,
    )
    assert outcome in result.stdout, result.stdout
    assert "PyTorch is not installed: pip install 'gradcheck-xor[torch]'" in result.stdout
    assert result.returncode == (1 if ci else 0)
