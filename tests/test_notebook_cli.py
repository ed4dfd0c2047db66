"""The main job: `gradcheck-xor notebook` sets the notebook's run beside the corrected one."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
from cli_run import run_command

from gradcheck_xor import model, notebook
from gradcheck_xor.diagnostics import diagnose

run = partial(run_command, "notebook")


def test_both_runs_start_from_the_same_draw_and_report_their_own_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--seed", "3", "--steps", "500", "--lr", "0.1")
    assert code == 0 and err == ""
    X, Y = model.xor_data()
    start = model.loss(model.init_params(3), X, Y)
    nb_end, _ = notebook.train(model.init_params(3), iterations=500, learning_rate=0.1)
    fixed_end, _ = model.train(model.init_params(3), X, Y, steps=500, learning_rate=0.1, diagnostics=False)
    lines = out.splitlines()
    assert lines[0] == "gradcheck-xor notebook: seed 3, 500 steps, learning rate 0.1"
    row = next(line for line in lines if line.startswith("loss at step 0"))
    assert row.split()[-2:] == [f"{start:.10f}"] * 2
    row = next(line for line in lines if line.startswith("final loss (BCE)"))
    assert row.split()[-2:] == [f"{model.loss(nb_end, X, Y):.10f}", f"{model.loss(fixed_end, X, Y):.10f}"]
    table = [line for line in lines if line.startswith("    ") and "|" in line]
    assert len(table) == 4
    for line, nb_a2, fixed_a2 in zip(
        table,
        notebook.forward_propagation(notebook.inputs, nb_end)[1][0],
        model.predict(fixed_end, X)[0],
        strict=True,
    ):
        assert [cell.strip() for cell in line.split("|")[2:]] == [f"{nb_a2:.4f}", f"{fixed_a2:.4f}"]


def test_json_is_one_object_holding_both_runs_as_the_text_reports_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--seed", "1", "--steps", "500", "--learning-rate", "0.1", "--json")
    assert code == 0 and err == "" and out.count("\n") == 1
    data = json.loads(out)
    assert (data["seed"], data["steps"], data["learning_rate"], data["targets"]) == (
        1,
        500,
        0.1,
        [0, 1, 1, 0],
    )
    # Seed 1's dead hidden unit, diagnosed in the draw, as the text's last lines say.
    assert "dead-relu" in {f["code"] for f in data["diagnostics"]["findings"]}
    X, Y = model.xor_data()
    nb_end, _ = notebook.train(model.init_params(1), iterations=500, learning_rate=0.1)
    fixed_end, _ = model.train(model.init_params(1), X, Y, steps=500, learning_rate=0.1, diagnostics=False)
    for name, end in (("notebook", nb_end), ("corrected", fixed_end)):
        run_ = data[name]
        assert run_["initial_loss"] == pytest.approx(model.loss(model.init_params(1), X, Y), rel=1e-12)
        assert run_["final_loss"] == pytest.approx(model.loss(end, X, Y), rel=1e-12)
        np.testing.assert_allclose(run_["predictions"], model.predict(end, X)[0], rtol=1e-12)
        np.testing.assert_allclose(run_["params"]["W2"], end["W2"], rtol=1e-12)
        assert run_["solved"] is (run_["outcome"] == "solved")
        assert [f["code"] for f in run_["diagnostics"]["findings"]] == [
            f.code for f in diagnose(end).findings
        ]
    _, text, _ = run(capsys, "--seed", "1", "--steps", "500", "--lr", "0.1")
    solved = "corrected: solves XOR" in text.splitlines()
    assert data["corrected"]["solved"] is solved


def test_the_run_ends_with_the_diagnosis_of_the_draw_and_of_each_end_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "--seed", "1", "--steps", "10")
    tail = out.splitlines()[-4:]
    assert tail[0] == "diagnostics (gradcheck-xor diagnose) of the draw and of each end state:"
    # Seed 1 draws a hidden unit that is dead on every input: the diagnosis says so up front.
    assert tail[1].startswith("  initial draw") and "dead-relu (error)" in tail[1]
    assert tail[2].startswith("  notebook end") and tail[3].startswith("  corrected end")


def test_a_run_longer_than_the_kept_history_prints_what_one_run_would(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command trains in chunks of MAX_HISTORY steps: a small one stands in for 10**8 steps.
    _, whole, _ = run(capsys, "--seed", "2", "--steps", "700", "--lr", "0.1")
    monkeypatch.setattr(model, "MAX_HISTORY", 64)
    _, chunked, _ = run(capsys, "--seed", "2", "--steps", "700", "--lr", "0.1")
    assert chunked == whole


@pytest.mark.parametrize("steps", ["0", "-5"])
def test_a_non_positive_step_count_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], steps: str
) -> None:
    code, out, err = run(capsys, "--steps", steps)
    assert code == 2 and out == ""
    assert err == f"gradcheck-xor notebook: error: --steps: got {steps}, expected a positive integer.\n"


def test_the_seed_0_draw_is_healthy_at_the_start() -> None:
    # The README's example relies on it: the notebook's rule, not the draw, is what fails there.
    draw = model.init_params(0)
    Z1 = draw["W1"] @ model.xor_data()[0] + draw["b1"]
    assert np.all((Z1 > 0).any(axis=1)), "no hidden unit is dead on every input"
