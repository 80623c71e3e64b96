"""Scoring without training on the task: zero-shot variant effects, attribution maps and motifs.

* :mod:`.zeroshot` — masked and causal likelihood ratios, embedding distances
  (one implementation), strand averaging, supervised Δ predictions;
* :mod:`.attribution` — saliency, one ISM (whole sequence or a window), the
  paper's LM-entropy maps, global importance analysis with a paired test;
* :mod:`.motifs` — modisco-lite discovery, JASPAR 2024 and TOMTOM matching.
"""
