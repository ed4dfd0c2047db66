"""The PNG figures: what they are computed from, that they are written, and the missing extra."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from gradcheck_xor import cli, model, plots, strategies, sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# h0 = relu(x1 + x2), h1 = relu(x1 + x2 - 1); out = 10 h0 - 20 h1 - 5: XOR with wide margins.
XOR_NET = {
    "W1": np.array([[1.0, 1.0], [1.0, 1.0]]),
    "b1": np.array([[0.0], [-1.0]]),
    "W2": np.array([[10.0, -20.0]]),
    "b2": np.array([[-5.0]]),
}


@settings(max_examples=20)
@given(params=strategies.parameters("generic"))
def test_decision_grid_is_the_networks_output_over_the_plotted_square(params):
    x1, x2, A2 = plots.decision_grid(params, n=21)
    assert x1[0] == x2[0] == -0.5 and x1[-1] == x2[-1] == 1.5
    assert A2.shape == (21, 21)
    for i, j in [(0, 0), (3, 17), (20, 5), (10, 10)]:
        expected = model.predict(params, np.array([[x1[j]], [x2[i]]]))[0, 0]
        assert A2[i, j] == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_decision_grid_of_a_solution_separates_the_xor_points():
    _, _, A2 = plots.decision_grid(XOR_NET, n=5)  # grid points -0.5, 0, 0.5, 1, 1.5
    assert A2[1, 1] < 0.5 and A2[3, 3] < 0.5  # (0, 0) and (1, 1)
    assert A2[3, 1] > 0.5 and A2[1, 3] > 0.5  # (0, 1) and (1, 0)


def _png_shape(path: Path) -> tuple[int, ...]:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(path).shape


def test_training_figure_writes_one_png_with_both_panels(tmp_path: Path):
    pytest.importorskip("matplotlib")
    X, Y = model.xor_data()
    trained, losses = sweep.train_one(model.init_params(0), X, Y, rule="bce", steps=200, learning_rate=0.5)
    path = tmp_path / "train.png"
    plots.training_figure(losses, trained, X, Y, path, title="seed 0")
    height, width, _ = _png_shape(path)
    assert (width, height) == (1100, 450)  # two panels side by side at 100 dpi


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures written, each still open for reading back what was drawn."""
    matplotlib = pytest.importorskip("matplotlib")
    figures = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    return figures


@pytest.mark.parametrize("every", [1, 3, 500])
def test_the_loss_curve_puts_each_kept_loss_at_its_own_step(tmp_path: Path, saved_figures, every):
    X, Y = model.xor_data()
    losses = np.linspace(0.7, 0.1, 5)
    plots.training_figure(losses, XOR_NET, X, Y, tmp_path / "a.png", every=every)
    line = saved_figures[0].axes[0].get_lines()[0]  # the loss curve, drawn first
    # losses[j] is the loss before step j * every, drawn at step j * every + 1 of the log axis
    np.testing.assert_array_equal(line.get_xdata(), np.arange(5) * every + 1)
    np.testing.assert_array_equal(line.get_ydata(), losses)


@pytest.mark.parametrize("every", [0, -2, 1.5])
def test_a_step_between_kept_losses_below_one_is_refused(tmp_path: Path, every):
    X, Y = model.xor_data()
    with pytest.raises(ValueError) as caught:
        plots.training_figure(np.array([0.7]), XOR_NET, X, Y, tmp_path / "a.png", every=every)
    assert str(caught.value) == f"every: got {every!r}, expected a positive integer."


def test_the_train_command_draws_a_long_runs_losses_at_their_steps(
    tmp_path: Path, saved_figures, capsys, monkeypatch
):
    monkeypatch.setattr(model, "MAX_HISTORY", 40)  # 100 steps is then a long run: every 3rd loss
    assert cli.main(["train", "--steps", "100", "--plot", str(tmp_path / "run.png")]) == 1
    line = saved_figures[0].axes[0].get_lines()[0]  # the loss curve, drawn first
    assert model.history_every(100) == 3
    np.testing.assert_array_equal(line.get_xdata(), np.arange(34) * 3 + 1)
    assert "plot written to" in capsys.readouterr().out


def test_figures_use_the_non_interactive_backend(tmp_path: Path):
    matplotlib = pytest.importorskip("matplotlib")
    X, Y = model.xor_data()
    plots.training_figure(np.array([0.7, 0.6]), XOR_NET, X, Y, tmp_path / "a.png")
    assert matplotlib.get_backend().lower() == "agg"


@pytest.fixture(scope="module")
def small_sweep() -> sweep.SweepResult:
    return sweep.run_sweep(60, steps=400, rule="bce", learning_rate=0.5)


def test_outcome_by_code_groups_the_seeds_each_informative_code_flagged(small_sweep):
    groups = plots.outcome_by_code(small_sweep)
    labels = [label for label, _, _ in groups]
    assert labels[-2:] == ["none of these", "all seeds"]
    # Codes that flag every seed (or none) tell nothing apart and get no group.
    for code, flags in small_sweep.codes.items():
        assert (code in labels) == (0 < flags.sum() < small_sweep.n_seeds)
    assert "dead-relu" in labels
    for label, n, counts in groups:
        assert sum(counts.values()) == n
        if label in small_sweep.codes:
            assert n == int(small_sweep.codes[label].sum())
    by_label = {label: counts for label, _, counts in groups}
    assert by_label["all seeds"] == {
        name: int(np.sum(small_sweep.outcome == k)) for k, name in enumerate(sweep.OUTCOMES)
    }


def test_sweep_figure_writes_one_png(tmp_path: Path, small_sweep):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sweep.png"
    plots.sweep_figure(small_sweep, path)
    height, width, _ = _png_shape(path)
    assert (width, height) == (1200, 480)


def test_sweep_command_writes_its_plot(tmp_path: Path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sweep.png"
    assert cli.main(["sweep", "--seeds", "10", "--steps", "20", "--plot", str(path)]) == 0
    assert f"plot written to {path}" in capsys.readouterr().out
    assert path.read_bytes()[:8] == PNG_SIGNATURE


@pytest.fixture
def no_matplotlib(monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_without_matplotlib_the_error_names_the_extra_to_install(no_matplotlib, tmp_path: Path):
    X, Y = model.xor_data()
    with pytest.raises(plots.PlotUnavailableError) as caught:
        plots.training_figure(np.array([0.7]), XOR_NET, X, Y, tmp_path / "a.png")
    assert "pip install 'gradcheck-xor[plot]'" in str(caught.value)


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_without_matplotlib_the_commands_stop_before_training_with_one_line(
    no_matplotlib, tmp_path: Path, capsys, command
):
    # A hundred million steps (the most --steps takes) would run for an hour or more: the
    # check must come before the training.
    argv = [command, "--steps", "100000000", "--plot", str(tmp_path / "x.png")]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"gradcheck-xor {command}: error: plotting needs matplotlib, which is not installed: "
        "pip install 'gradcheck-xor[plot]'\n"
    )
