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


def per_sequence_agreement(maps: Mapping[str, np.ndarray], reference: np.ndarray, *, groups=None) -> pd.DataFrame:
    """Per-sequence Pearson r of absolute attributions of each ``(N, L)`` map with a reference map.

    Parameters
    ----------
    maps : mapping name → array ``(N, L)``
    reference : array ``(N, L)``
    groups : array-like ``(N,)``, optional
        Independent unit of each sequence (e.g. the element behind a forward
        and a reverse construct); default: each sequence.

    Returns
    -------
    pandas.DataFrame
        Long table ``map, sequence, group, r`` (:func:`attribution.map_agreement`).
    """
    frames = []
    for name, values in maps.items():
        sequence = np.arange(len(values))
        frames.append(pd.DataFrame({"map": name, "sequence": sequence,
                                    "group": sequence.astype(str) if groups is None else np.asarray(groups, str),
                                    "r": attribution.map_agreement(values, reference)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["map", "sequence", "group", "r"])


def agreement_table(maps: Mapping[str, np.ndarray], reference: np.ndarray, *, groups=None, n_boot: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """Agreement of each ``(N, L)`` map with a reference map.

    Per sequence, the Pearson r of absolute attributions
    (:func:`per_sequence_agreement`); summarised as the mean over sequences
    with a bootstrap 95% CI that resamples ``groups`` (the independent units;
    default: sequences).

    Returns
    -------
    pandas.DataFrame
        ``map, mean, ci_low, ci_high, n`` (sequences), ``n_groups``.
    """
    long = per_sequence_agreement(maps, reference, groups=groups)
    rows = []
    for name in maps:
        part = long[(long["map"] == name) & np.isfinite(long["r"].to_numpy(dtype=float))]
        if part.empty:
            raise ValueError(f"map {name!r}: no finite agreement values to summarise")
        low, high = bootstrap_mean_ci(part["r"].to_numpy(dtype=float), groups=part["group"].to_numpy(),
                                      n_boot=n_boot, seed=seed)
        rows.append({"map": name, "mean": float(part["r"].mean()), "ci_low": low, "ci_high": high, "n": len(part),
                     "n_groups": part["group"].nunique()})
    return pd.DataFrame(rows, columns=["map", "mean", "ci_low", "ci_high", "n", "n_groups"])


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
