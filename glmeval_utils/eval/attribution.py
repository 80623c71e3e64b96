"""Statistics of attribution maps and global importance analysis.

* :func:`per_sequence_agreement`, :func:`agreement_table` — agreement of maps
  with a reference map (per-sequence Pearson r of absolute attributions), as a
  mean over sequences with a bootstrap 95% CI;
* :func:`gia_table` — the global importance of motifs against shuffled-motif
  controls on the same backgrounds (paired two-sided Wilcoxon signed-rank
  test), with a bootstrap CI of each motif's mean effect.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from glmeval_utils.eval.stats import bootstrap_mean_ci
from glmeval_utils.score import attribution


def per_sequence_agreement(maps: Mapping[str, np.ndarray], reference: np.ndarray) -> pd.DataFrame:
    """Per-sequence Pearson r of absolute attributions of each ``(N, L)`` map with a reference map.

    Returns
    -------
    pandas.DataFrame
        Long table ``map, sequence, r`` (:func:`attribution.map_agreement`).
    """
    frames = [pd.DataFrame({"map": name, "sequence": np.arange(len(values)),
                            "r": attribution.map_agreement(values, reference)})
              for name, values in maps.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["map", "sequence", "r"])

def agreement_table(maps: Mapping[str, np.ndarray], reference: np.ndarray, *, n_boot: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """Agreement of each ``(N, L)`` map with a reference map.

    Per sequence, the Pearson r of absolute attributions
    (:func:`per_sequence_agreement`); summarised as the mean over sequences
    with a bootstrap 95% CI over sequences (each sequence is an independent unit).

    Returns
    -------
    pandas.DataFrame
        ``map, mean, ci_low, ci_high, n``.
    """
    long = per_sequence_agreement(maps, reference)
    rows = []
    for name in maps:
        values = long.loc[long["map"] == name, "r"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError(f"map {name!r}: no finite agreement values to summarise")
        low, high = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed)
        rows.append({"map": name, "mean": float(values.mean()), "ci_low": low, "ci_high": high, "n": int(values.size)})
    return pd.DataFrame(rows, columns=["map", "mean", "ci_low", "ci_high", "n"])

def gia_table(model, backgrounds, patterns: Mapping[str, str], *, n_shuffles: int = 1,
              seed: int = 0, target: int = 0, batch_size: int = 64, device=None) -> pd.DataFrame:
    """GIA of each pattern against a shuffled-motif control on identical backgrounds.

    For each pattern: :func:`attribution.gia_motif_effect` of the motif and
    of :func:`attribution.shuffle_motif` of it (same ``seed`` → same
    backgrounds), compared with a paired two-sided Wilcoxon signed-rank test
    of the per-background differences (:func:`attribution.gia_test`), so a
    repressive motif is found as well as an activating one.  Shuffles of one
    background are averaged before the test and the interval: the
    backgrounds are the independent units.

    Returns
    -------
    pandas.DataFrame
        ``label, motif, control, effect, ci_low, ci_high, control_effect,
        difference, p_value, n``: ``difference`` is the mean per-background
        motif effect minus control effect, ``n`` the number of backgrounds.
    """
    rows = []
    for offset, (label, motif) in enumerate(patterns.items()):
        control = attribution.shuffle_motif(motif, seed=seed + offset)
        kwargs = dict(n_shuffles=n_shuffles, seed=seed, target=target,
                      batch_size=batch_size, device=device)
        with_motif = attribution.gia_motif_effect(model, backgrounds, motif, **kwargs)
        with_control = attribution.gia_motif_effect(model, backgrounds, control, **kwargs)
        test = attribution.gia_test(with_motif, with_control)
        low, high = bootstrap_mean_ci(with_motif.per_background, seed=seed)
        rows.append({"label": label, "motif": motif, "control": control, "effect": with_motif.mean,
                     "ci_low": low, "ci_high": high,
                     "control_effect": with_control.mean, "difference": test.mean_difference,
                     "p_value": test.p_value, "n": test.n})
    return pd.DataFrame(rows, columns=["label", "motif", "control", "effect", "ci_low", "ci_high",
                                       "control_effect", "difference", "p_value", "n"])
