"""A worker process of the JAX sweep backend: trains the seeds it is sent, on one core.

Started by :func:`gradcheck_xor.sweep.train_batch` as ``python -m gradcheck_xor._sweep_worker
CORE``, one per core. It pins itself to CORE before JAX starts, so that XLA sizes its thread
pool to that one core and runs each step's loops one after another (see
:func:`gradcheck_xor.sweep._train_jax` for why that matters).

The protocol, over stdin and stdout, is plain bytes and JSON, never pickle. Per task the
parent writes one JSON line (``seeds``, ``steps``, ``learning_rate``, ``rule``, ``chunk``)
and then the (9, seeds) float64 parameters, C order. The worker answers with lines
``progress N`` as seed-steps complete, then ``done RSS`` (its peak resident memory in
bytes) and the trained parameters in the same layout. End of input ends the worker.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def main(argv: list[str]) -> int:
    core = int(argv[0])
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})

    import numpy as np

    from gradcheck_xor import sweep

    read, write = sys.stdin.buffer, sys.stdout.buffer

    def report(n: int) -> None:
        write.write(f"progress {n}\n".encode())
        write.flush()

    while header := read.readline():
        task = json.loads(header)
        shape = (9, int(task["seeds"]))
        P = np.frombuffer(read.read(8 * shape[0] * shape[1]), dtype=np.float64).reshape(shape)
        trained = sweep._train_jax_here(
            P, int(task["steps"]), float(task["learning_rate"]), str(task["rule"]), int(task["chunk"]), report
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
        write.write(f"done {peak}\n".encode())
        write.write(np.ascontiguousarray(trained, dtype=np.float64).tobytes())
        write.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
