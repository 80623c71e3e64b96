"""Two chapters side by side on one thread each, against one after the other on all threads.

The demo's time goes to small convolutions (the CNN probes on per-position
embeddings and the one-hot baselines), which torch spreads poorly over two
threads.  This script trains the same CNN probe (demo settings: ``rep_cnn`` at
width 0.25, 1x1 reduction to 32, on ``(N, 230, 192)`` float16 embeddings like
the masked teaching gLM's of lentiMPRA) twice in fresh interpreters:

* one after the other, each on ``--threads`` threads (``make run`` before
  ``--jobs``);
* both at once, each on ``threads / 2`` threads (``make run`` with ``JOBS=2``).

The last line is::

    RESULT sequential_s=<...> side_by_side_s=<...> side_by_side_vs_sequential=<ratio>

Usage::

    python benchmarks/chapter_jobs.py [--rows 1600] [--epochs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

WORKLOAD = """
import numpy as np
from glmeval_utils.learn.probes import CNNProbe
rng = np.random.default_rng(0)
X = rng.normal(size=({rows}, 230, 192)).astype(np.float16)
y = X[:, 100:130, :8].astype(np.float32).mean(axis=(1, 2)) + rng.normal(scale=0.1, size={rows})
probe = CNNProbe("regression", reduce_dim=32, width_factor=0.25, max_epochs={epochs}, patience={epochs},
                 random_state=0, progress=False)
probe.fit(X[:-200], y[:-200], X[-200:], y[-200:])
"""


def start(rows: int, epochs: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "GLMEVAL_TRAINED_CACHE": "off"}
    return subprocess.Popen([sys.executable, "-c", WORKLOAD.format(rows=rows, epochs=epochs)], env=env)


def wait(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.wait() != 0:
            raise RuntimeError(f"workload failed with exit code {process.returncode}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1600, help="training rows of each probe (plus 200 valid)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="the cores to share")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; two probes of {args.rows} rows x {args.epochs} epochs")
    began = time.perf_counter()
    for _ in range(2):
        wait(start(args.rows, args.epochs, args.threads))
    sequential = time.perf_counter() - began
    print(f"one after the other, {args.threads} threads each: {sequential:.1f} s", flush=True)
    began = time.perf_counter()
    share = max(1, args.threads // 2)
    wait(start(args.rows, args.epochs, share), start(args.rows, args.epochs, share))
    side_by_side = time.perf_counter() - began
    print(f"side by side, {share} thread(s) each: {side_by_side:.1f} s")
    print(f"RESULT sequential_s={sequential:.1f} side_by_side_s={side_by_side:.1f} "
          f"side_by_side_vs_sequential={side_by_side / sequential:.2f}")


if __name__ == "__main__":
    main()
