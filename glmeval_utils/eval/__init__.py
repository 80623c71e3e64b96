"""Evaluation: from prediction tables to the book's verdicts.

* :mod:`.metrics`, :mod:`.stats` — metrics from scores; bootstraps over
  examples or their independent groups, paired tests, seed tests;
* :mod:`.performance` — per configuration: mean ± sd over seeds, validation
  score, bootstrap interval;
* :mod:`.select` — the configuration of every side chosen on validation, by one rule;
* :mod:`.compare` — against the best one-hot model, against the random-init
  control, between configurations and layers;
* :mod:`.roles` — which models count as "a gLM";
* :mod:`.verdicts` — one vocabulary, one written rule per claim of the paper;
* :mod:`.variants` — variant scores against measured effects (CAGI5, MaPSy);
* :mod:`.attribution` — map agreement and global importance statistics;
* :mod:`.paper` — the paper's numbers, by role; :mod:`.results` — the tidy results table.
"""
