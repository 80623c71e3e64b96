"""Throughput under contention: teaching-gLM training steps with one of the cores taken by another process.

A workshop laptop is rarely idle.  With the default OpenMP wait policy the
torch worker threads spin while they wait for each other, and a thread that
shares its core with another busy process holds every other thread up.  This
script runs the same workload (masked teaching-gLM training steps on seeded
random batches, the inner loop of ``make pretrain``) in fresh subprocesses,
each with ``OMP_NUM_THREADS`` threads:

* idle, and with one core taken by a busy-looping process;
* with the OpenMP wait policy left to the runtime and with
  ``OMP_WAIT_POLICY=PASSIVE``, what importing ``glmeval_utils`` sets unless
  the variable is set already (:data:`glmeval_utils.THREAD_ENVIRONMENT`).

Each line reports steps per second; the last lines are::

    RESULT policy=<policy> idle_its=<...> busy_its=<...> busy_vs_idle=<ratio>

Usage::

    python benchmarks/contention.py [--steps 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

WORKLOAD = """
import time, torch
from glmeval_utils.models.teaching import build_teaching_model
model, _ = build_teaching_model("mlm", size="demo", seed=0)
model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
generator = torch.Generator().manual_seed(0)
def step():
    ids = torch.randint(4, 9, (32, 102), generator=generator)
    loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
step()  # warm-up: allocations and thread start
start = time.perf_counter()
for _ in range({steps}):
    step()
print({steps} / (time.perf_counter() - start))
"""

BUSY_LOOP = "while True: pass"


def measure(steps: int, threads: int, policy: str | None) -> float:
    """Steps per second of the workload in a fresh interpreter."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    # "default": the runtime's own policy, which importing glmeval_utils would otherwise replace
    env["OMP_WAIT_POLICY"] = policy or ""
    done = subprocess.run([sys.executable, "-c", WORKLOAD.format(steps=steps)], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per measurement")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the workload")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; workload threads: {args.threads}")
    results = {}
    # policies alternate within each condition, so a change in machine load hits both alike
    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
        try:
            time.sleep(0.5 if busy else 0)
            for policy in (None, "PASSIVE"):
                rate = measure(args.steps, args.threads, policy)
                results[policy, busy] = rate
                print(f"policy={policy or 'default'} one core busy={busy}: {rate:.2f} steps/s", flush=True)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    for policy in (None, "PASSIVE"):
        idle, busy = results[policy, False], results[policy, True]
        print(f"RESULT policy={policy or 'default'} idle_its={idle:.2f} busy_its={busy:.2f} "
              f"busy_vs_idle={busy / idle:.2f}")


if __name__ == "__main__":
    main()
