"""``gradcheck-xor check`` on notebooks and scripts: by default only what a function needs runs
(imports, definitions, constants), never a training loop or a print; ``--run-file`` runs it all.
And the tutorial as a notebook."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_run import run_command
from hypothesis import given
from hypothesis import strategies as st

from gradcheck_xor import _targets, model, notebook
from gradcheck_xor.params_io import MAX_BYTES

run = partial(run_command, "check")
REPO = Path(__file__).resolve().parents[1]
TUTORIAL = "examples/tutorial.ipynb"

RIGHT = """\
def backward(parameters, A1, A2, X, Y):
    m = X.shape[1]
    dZ2 = SCALE * (A2 - Y.reshape(1, m)) / m
    dZ1 = parameters["W2"].T @ dZ2 * (A1 > 0)
    return {"dW1": dZ1 @ X.T, "db1": np.sum(dZ1, axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T, "db2": np.sum(dZ2, axis=1, keepdims=True)}
"""


def _code(source: str | list[str]) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def _notebook(path: Path, *cells: dict[str, Any]) -> Path:
    """An nbformat 4 notebook, written as Jupyter writes one (nbformat need not be installed)."""
    document = {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    path.write_text(json.dumps(document, indent=1))
    return path


@pytest.fixture
def learner(tmp_path: Path) -> Path:
    """A learner's notebook: the backward, and cells that print, train and raise at top level."""
    return _notebook(
        tmp_path / "learner.ipynb",
        {"cell_type": "markdown", "metadata": {}, "source": ["# XOR by hand"]},
        _code(["%matplotlib inline\n", "import numpy as np\n", "SCALE = 1.0\n", "!pip list\n"]),
        _code(RIGHT),
        _code('print("training...")\nfor step in range(10**9):\n    pass\n'),
        _code(["%%bash\n", "echo this is not Python\n"]),
        _code('raise RuntimeError("a top-level cell ran")\n'),
    )


# --- what runs by default, and with --run-file --------------------------------------------------


def test_a_notebooks_function_is_judged_without_running_its_top_level_cells(
    capsys: pytest.CaptureFixture[str], learner: Path
) -> None:
    started = time.perf_counter()
    code, out, err = run(capsys, f"{learner}:backward")
    assert time.perf_counter() - started < 60  # the billion-step loop did not run
    assert code == 0
    assert out.startswith(f"gradcheck-xor check: {learner}:backward\nok: ")
    assert "training..." not in out + err
    assert err == ""


def test_under_json_stdout_is_one_object(capsys: pytest.CaptureFixture[str], learner: Path) -> None:
    code, out, _ = run(capsys, f"{learner}:backward", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["source"] == f"{learner}:backward"
    assert report["verdict"] == "ok" and report["ok"] is True


def test_run_file_runs_every_code_cell_and_names_the_one_that_raised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _notebook(
        tmp_path / "nb.ipynb",
        _code("import numpy as np\nSCALE = 1.0\n"),
        _code(RIGHT),
        _code('print("a top-level print")\n'),
        _code('raise RuntimeError("a top-level cell ran")\n'),
    )
    code, out, err = run(capsys, f"{path}:backward", "--run-file", "--json")
    assert code == 2
    assert json.loads(out)["error"] == f"{path}: running cell 4 raised RuntimeError: a top-level cell ran"
    assert "a top-level print" in err  # the user's print goes to stderr, stdout stays JSON


def test_run_file_runs_the_cells_a_function_needs_at_call_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _notebook(
        tmp_path / "nb.ipynb",
        _code("import numpy as np\n"),
        _code("SCALE = np.float64(1.0)  # a call: not run by default\n"),
        _code(RIGHT),
    )
    code, out, err = run(capsys, f"{path}:backward", "--json")
    assert code == 1
    assert json.loads(out)["verdict"] == "raised"
    assert err == (
        f"gradcheck-xor check: note: SCALE is set by a statement not run by default ({path} (cell 2), "
        "line 1); --run-file runs it.\n"
    )
    code, out, err = run(capsys, f"{path}:backward", "--json", "--run-file")
    assert code == 0 and json.loads(out)["verdict"] == "ok" and err == ""


def test_a_scripts_training_loop_and_exit_do_not_run_by_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "learner.py"
    script.write_text(
        "import sys\nimport numpy as np\nSCALE = 1.0\n\n"
        + RIGHT
        + '\nprint("training...")\nsys.exit(3)\n'
        + 'if __name__ == "__main__":\n    raise RuntimeError("main")\n'
    )
    code, out, err = run(capsys, f"{script}:backward")
    assert code == 0 and "training..." not in out + err
    code, out, err = run(capsys, f"{script}:backward", "--run-file")
    assert code == 2
    assert "training..." in out  # without --json the user's prints stay where they were
    assert err == f"gradcheck-xor check: error: {script}: running it raised SystemExit: 3\n"


def test_a_target_set_by_a_statement_left_out_says_how_to_run_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    made = _notebook(
        tmp_path / "made.ipynb",
        _code("def make():\n    return lambda *a: None\n"),
        _code("backward = make()\n"),
    )
    code, _, err = run(capsys, f"{made}:backward")
    assert code == 2
    assert err == (
        f"gradcheck-xor check: error: {made}: 'backward' is set by a statement that is not run by "
        f"default ({made} (cell 2), line 1); expected a def, or --run-file to run the whole file.\n"
    )


UNUSABLE = {
    "not JSON": (b"{not json", "is not valid JSON (Expecting property name enclosed in double quotes)"),
    "no cells": (b'{"nbformat": 3, "worksheets": []}', "key 'cells': missing or not a list"),
    "a cell that is no object": (b'{"cells": [3]}', "cells[0]: not an object; expected a notebook cell."),
    "a source that is no text": (
        b'{"cells": [{"cell_type": "code", "source": [1, 2]}]}',
        "cells[0].source: not text; expected a string or a list of strings.",
    ),
    "a syntax error": (
        b'{"cells": [{"cell_type": "code", "source": "import numpy"}, '
        b'{"cell_type": "code", "source": "def f(:"}]}',
        "running cell 2 raised SyntaxError: invalid syntax",
    ),
}


@pytest.mark.parametrize(("content", "message"), UNUSABLE.values(), ids=list(UNUSABLE))
def test_an_unusable_notebook_is_one_line_naming_the_file_and_key_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    code, out, err = run(capsys, f"{path}:backward")
    assert code == 2 and out == ""
    assert err.startswith(f"gradcheck-xor check: error: {path}: {message}")
    assert err.count("\n") == 1


def test_a_notebook_over_the_size_limit_is_refused_before_it_is_read(
    capsys: pytest.CaptureFixture[str], learner: Path
) -> None:
    code, _, err = run(capsys, f"{learner}:backward", "--max-file-size", "100")
    assert code == 2
    assert f"{learner}: is {learner.stat().st_size} bytes, more than the limit of 100 bytes" in err


# --- which statements are kept: any mixture of them ---------------------------------------------

# Each statement that must not run leaves a mark in RAN when it does (or raises).
LEFT_OUT = [
    "RAN.append('call')",
    "for i in range(3):\n    RAN.append('loop')",
    "if True:\n    RAN.append('if')",
    "while not RAN:\n    RAN.append('while')",
    "x = RAN.append('assignment') or 1",
    "with open(__file__) as f:\n    RAN.append('with')",
    "raise SystemExit(5)",
    "print('printed')",
    "CONSTANT = [RAN.append('in a list')]",
]
# (statement, the name it sets, the names a constant needs set before it to be kept)
KEPT = [
    ("import math", "math", ()),
    ("from os import path as os_path", "os_path", ()),
    ("LIMIT = 3", "LIMIT", ()),
    ("SIZES = (LIMIT, 2 * LIMIT, -1, 'text', None, {'a': [1.5, 2j]})", "SIZES", ("LIMIT",)),
    ("TAU = 2 * math.pi", "TAU", ("math",)),
    ("class Holder:\n    def value(self):\n        return LIMIT", "Holder", ()),
    ("def helper():\n    return LIMIT + 1", "helper", ()),
    ("try:\n    import json\nexcept ImportError:\n    json = None", "json", ()),
    ("alias = helper", "alias", ("helper",)),
]


@given(
    statements=st.lists(st.sampled_from(LEFT_OUT + [statement for statement, _, _ in KEPT]), max_size=12),
    as_notebook=st.booleans(),
)
def test_only_imports_definitions_and_constants_run_whatever_else_the_file_holds(
    tmp_path_factory: pytest.TempPathFactory, statements: list[str], as_notebook: bool
) -> None:
    folder = tmp_path_factory.mktemp("mixed")
    body = ["from gradcheck_xor_test_marks import RAN", *statements, "def target():\n    return 42"]
    (folder / "gradcheck_xor_test_marks.py").write_text("RAN = []\n")
    if as_notebook:
        path = _notebook(folder / "mixed.ipynb", *(_code(s + "\n") for s in body))
    else:
        path = folder / "mixed.py"
        path.write_text("\n".join(body) + "\n")
    try:
        target = _targets.load(f"{path}:target", max_bytes=MAX_BYTES)
        marks = sys.modules["gradcheck_xor_test_marks"]
        assert marks.RAN == []
        assert target.function() == 42
        namespace = target.function.__globals__
        names = {statement: name for statement, name, _ in KEPT}
        for statement, name, needs in KEPT:
            kept = any(  # at some place in the file, after every name it needs
                set(needs) <= {names.get(s) for s in statements[:at]}
                for at, s in enumerate(statements)
                if s == statement
            )
            assert (name in namespace) == kept, statement
        assert not {"x", "CONSTANT", "i", "f"} & set(namespace)
    finally:
        sys.modules.pop("gradcheck_xor_test_marks", None)


# --- the tutorial -------------------------------------------------------------------------------


def _tutorial() -> dict[str, Any]:
    return json.loads((REPO / TUTORIAL).read_text(encoding="utf-8"))


def test_the_tutorial_is_an_nbformat_4_notebook_with_the_tutorials_cells() -> None:
    nb = _tutorial()
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids)
    for cell in nb["cells"]:
        assert isinstance(cell["metadata"], dict) and all(isinstance(s, str) for s in cell["source"])
        if cell["cell_type"] == "code":
            assert {"execution_count", "outputs"} <= set(cell)
    code = "".join(line for cell in nb["cells"] if cell["cell_type"] == "code" for line in cell["source"])
    assert "# 가중치 input layer 2 -> hidden layer 2" in code  # its Korean comments kept
    assert "for i in range(200000):" in code and "def forward_propagation_for_debuging" in code


def test_the_tutorial_ships_in_the_package_and_beside_the_parameter_files() -> None:
    shipped = files("gradcheck_xor.examples").joinpath("tutorial.ipynb").read_bytes()
    assert shipped == (REPO / TUTORIAL).read_bytes()


@given(seed=st.integers(0, 2**32 - 1), labels_2d=st.booleans())
def test_the_tutorials_functions_are_the_notebook_modules_bit_for_bit(seed: int, labels_2d: bool) -> None:
    loaded = _targets.load(f"{REPO / TUTORIAL}:backword_propagation", max_bytes=MAX_BYTES).function
    tutorial = loaded.__globals__
    params = model.init_params(seed)
    X = notebook.inputs
    Y = notebook.outputs.reshape(1, -1) if labels_2d else notebook.outputs
    A1, A2 = tutorial["forward_propagation"](X, params)
    ours = notebook.forward_propagation(X, params)
    np.testing.assert_array_equal(A1, ours[0])
    np.testing.assert_array_equal(A2, ours[1])
    assert tutorial["compute_loss"](notebook.outputs, A2) == notebook.compute_loss(notebook.outputs, A2)
    grads = loaded(params, A1, A2, X, Y)
    expected = notebook.backword_propagation(params, A1, A2, X, Y)
    for key in expected:
        np.testing.assert_array_equal(grads[key], expected[key])


def test_checking_the_tutorial_notebook_names_the_other_loss_in_well_under_a_second() -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "gradcheck_xor", "check", f"{TUTORIAL}:backword_propagation"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - started
    print(f"gradcheck-xor check {TUTORIAL}:backword_propagation: {seconds:.2f} s, exit {done.returncode}")
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[1].startswith("matches-other-loss: ")
    assert done.stderr == ""
    # The notebook trains 200,000 steps when run (about ten seconds): a generous bound that
    # still tells that it did not.
    assert seconds < 5
