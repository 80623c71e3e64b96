"""Trained-model cache: the one-hot baselines of chapter 1 trained, then fitted again from the cache.

Both passes run the same ``learn.ladder.onehot_baselines`` call (demo
settings: CNN, ResNet and MPRAnn, three seeds) on the demo's lentiMPRA rows
in a fresh cache folder; the first trains and stores, the second loads.  The
last lines are::

    RESULT cold_s=<first pass> warm_s=<second pass> warm_vs_cold=<ratio> key_s=<hashing share>
    RESULT identical=<whether both passes predicted the same values>

Usage::

    python benchmarks/trained_cache.py [--rows 1600]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

from glmeval_utils.data import registry
from glmeval_utils.data.splits import TaskData
from glmeval_utils.learn import ladder, probes, trained
from glmeval_utils.profiles import get_profile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1600, help="training rows (validation and test: the demo's)")
    args = parser.parse_args()
    os.environ["GLMEVAL_TRAINED_CACHE"] = "on"
    profile = get_profile("demo")
    table = registry.load("lentimpra_hepg2", profile="demo", progress=False)
    table = pd.concat([table[table.split == "train"].head(args.rows), table[table.split != "train"]])
    data = TaskData.from_table(table, target="activity", task="lentimpra", dataset="lentimpra_hepg2",
                               kind="regression")
    key_seconds = []
    fit_key = trained.fit_key

    def timed_key(*key_args, **key_kwargs):
        start = time.perf_counter()
        try:
            return fit_key(*key_args, **key_kwargs)
        finally:
            key_seconds.append(time.perf_counter() - start)

    probes.trained.fit_key = timed_key
    with tempfile.TemporaryDirectory() as folder:
        os.environ["GLMEVAL_DATA"] = folder
        passes = []
        for _ in range(2):
            start = time.perf_counter()
            rows = ladder.onehot_baselines(data, ("cnn", "resnet", "mprann"), profile=profile, progress=False)
            passes.append((time.perf_counter() - start, rows))
    (cold, first), (warm, second) = passes
    identical = np.array_equal(first.y_score.to_numpy(), second.y_score.to_numpy())
    print(f"{len(first)} prediction rows per pass; {data.sizes().to_dict()}")
    print(f"RESULT cold_s={cold:.1f} warm_s={warm:.2f} warm_vs_cold={warm / cold:.4f} "
          f"key_s={sum(key_seconds):.2f}")
    print(f"RESULT identical={identical}")


if __name__ == "__main__":
    main()
