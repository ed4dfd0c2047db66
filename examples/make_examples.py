"""Regenerate the parameter files bundled in ``gradcheck_xor/examples/`` (which ``--example
NAME`` reads): ``python examples/make_examples.py``.

* ``notebook_final.json``: the notebook's parameters after its 200,000 steps, as its
  debugging cell printed them (8 significant digits), with its data ``X`` (2, 4) and 1-D
  labels ``Y`` (4,). Stuck: every prediction is 0.5.
* ``notebook_init_dead_unit.json``: the notebook's initialiser after ``np.random.seed(1)``,
  the first seed from 0 whose draw has a hidden unit dead on all four inputs.
* ``healthy_solution.json``: the corrected model trained from the notebook's draw for seed 0
  (200,000 steps at learning rate 0.01, as ``gradcheck-xor notebook --seed 0`` does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gradcheck_xor import model
from gradcheck_xor.params_io import save_params

# The package's folder in this repository, not an installed copy's: the files ship from here.
BUNDLED = Path(__file__).resolve().parent.parent / "gradcheck_xor" / "examples"
DEAD_UNIT_SEED = 1

# Printed by the notebook's forward_propagation_for_debuging after training.
NOTEBOOK_FINAL = {
    "W1": np.array([[0.08204067, 1.27191402], [0.18302969, 0.29126595]]),
    "b1": np.array([[0.00330639], [0.06475702]]),
    "W2": np.array([[-5.49039980e-16, 2.51708376e-15]]),
    "b2": np.array([[-5.27355937e-16]]),
    "X": np.array([[0, 0, 1, 1], [0, 1, 0, 1]]),
    "Y": np.array([0, 1, 1, 0]),
}


def main() -> int:
    save_params(NOTEBOOK_FINAL, BUNDLED / "notebook_final.json")
    save_params(model.init_params(DEAD_UNIT_SEED), BUNDLED / "notebook_init_dead_unit.json")
    X, Y = model.xor_data()
    solution, _ = model.train(model.init_params(0), X, Y, steps=200_000, learning_rate=0.01)
    save_params(solution, BUNDLED / "healthy_solution.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
