"""Pretraining both teaching gLMs side by side (one thread each) against one after the other.

``make pretrain`` runs ``pretrain --jobs 2``: each model trains in its own
process on one torch thread.  This script times, in fresh interpreters and
fresh model folders, ``pretrain_all(profile, jobs=1)`` (one model after the
other on every thread) and ``pretrain_all(profile, jobs=2)``.  The data are
fetched once beforehand, so neither run pays for the download; each run reads
the corpus (the side-by-side run once per process).  On a CPU with native
bf16 both runs train in bf16 (:func:`glmeval_utils.learn.train.training_autocast_dtype`).

The last line is::

    RESULT sequential_s=<...> side_by_side_s=<...> side_by_side_vs_sequential=<ratio>

Usage::

    python benchmarks/pretrain_jobs.py [--profile demo]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

WORKLOAD = """
from glmeval_utils.pretrain import pretrain_all
pretrain_all({profile!r}, jobs={jobs}, out_dir={out_dir!r}, progress=False)
"""


def timed_run(profile: str, jobs: int) -> float:
    """Wall seconds of one ``pretrain_all`` in a fresh interpreter writing to a fresh folder."""
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", WORKLOAD.format(profile=profile, jobs=jobs, out_dir=out_dir)],
                       check=True)
        return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo")
    args = parser.parse_args(argv)
    from glmeval_utils.pretrain import get_settings, registry_corpus

    registry_corpus(get_settings(args.profile))  # fetched before either timing
    sequential = timed_run(args.profile, jobs=1)
    side_by_side = timed_run(args.profile, jobs=2)
    ratio = side_by_side / sequential
    print(f"pretraining both teaching gLMs ({args.profile}): one after the other {sequential:.1f} s, "
          f"side by side {side_by_side:.1f} s")
    print(f"target side_by_side_vs_sequential <= 0.8: {ratio:.2f} ({'met' if ratio <= 0.8 else 'MISSED'})")
    print(f"RESULT sequential_s={sequential:.1f} side_by_side_s={side_by_side:.1f} side_by_side_vs_sequential={ratio:.3g}")


if __name__ == "__main__":
    main()
