"""Masked-LLR throughput: glmeval_utils.score.zeroshot against a naive per-variant loop.

Both sides score the same CAGI5 variants with the same gLM and the same
windows.  The naive loop runs one masked forward pass per variant (three per
position, batch size 1); ``score_variants`` runs one pass per position and
batches the positions that share a window.  The last line is::

    RESULT llr_vs_naive=<speed-up> max_abs_diff=<largest score difference>

Usage::

    python benchmarks/zeroshot_throughput.py [--max-variants 600] [--all] [--window 511]

By default a deterministic subset of whole elements (smallest first, up to
``--max-variants`` variants) keeps the naive loop within about two minutes on
a CPU; ``--all`` scores every variant.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

from glmeval_utils.data import registry
from glmeval_utils.score import zeroshot
from glmeval_utils.models import load_glm


def load_model(device):
    """The pretrained teaching MLM when it exists, else its random-init control."""
    try:
        return load_glm("teaching-mlm", device=device)
    except FileNotFoundError:
        return load_glm("teaching-mlm-random", device=device)


def element_subset(table, max_variants: int):
    """Whole elements, fewest variants first (ties by name), up to ``max_variants`` variants."""
    counts = table.groupby("element").size().reset_index(name="n").sort_values(["n", "element"])
    chosen, total = [], 0
    for element, n in counts.itertuples(index=False):
        if chosen and total + n > max_variants:
            break
        chosen.append(element)
        total += n
    return table[table.element.isin(chosen)].reset_index(drop=True), chosen


def naive_masked_llr(glm, table, windows) -> np.ndarray:
    """One masked forward pass per variant, one variant at a time."""
    scores = np.empty(len(table))
    for row in tqdm(range(len(table)), desc="naive masked LLR", unit="variant"):
        log_probs = glm.masked_log_probs(windows.ref_seqs[row], [int(windows.variant_index[row])], batch_size=1)[0]
        scores[row] = log_probs["ACGT".index(table.alt[row])] - log_probs["ACGT".index(table.ref[row])]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-variants", type=int, default=600)
    parser.add_argument("--all", action="store_true", help="score every CAGI5 variant")
    parser.add_argument("--window", type=int, default=None, help="default: the model's max_length")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    glm = load_model(args.device)
    window = args.window or glm.max_length
    table = registry.load("cagi5", profile="full", progress=False)
    if args.all:
        elements = sorted(table.element.unique())
    else:
        table, elements = element_subset(table, args.max_variants)
    print(f"model {glm.name}, window {window}, {len(table)} variants in {len(elements)} element(s): "
          f"{', '.join(elements)}")
    windows = zeroshot.variant_windows(table, None, window=window)

    start = time.perf_counter()
    ours = zeroshot.score_variants(glm, table, None, method="masked_llr", window=window,
                                   batch_size=args.batch_size)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    naive = naive_masked_llr(glm, table, windows)
    naive_seconds = time.perf_counter() - start

    max_abs_diff = float(np.max(np.abs(ours - naive)))
    print(f"score_variants: {ours_seconds:.1f} s ({len(table) / ours_seconds:.1f} variants/s); "
          f"naive loop: {naive_seconds:.1f} s ({len(table) / naive_seconds:.1f} variants/s)")
    print(f"RESULT llr_vs_naive={naive_seconds / ours_seconds:.2f} max_abs_diff={max_abs_diff:.2e}")


if __name__ == "__main__":
    main()
