"""One module per chapter, each with ``config(profile, **overrides)`` → ``run(config)`` → ``report(run)``.

* :mod:`.lentimpra` (chapter 1), :mod:`.binding` (chapters 2 and 6),
  :mod:`.cagi5` (3), :mod:`.splicing` (4), :mod:`.elongation` (5),
  :mod:`.attribution` (7), :mod:`.scaling` (9), :mod:`.summary` (10);
* :mod:`.report` — the :class:`~.report.Report` every chapter returns;
  :mod:`.tables` — tables shaped for reading.

Verdicts come from :mod:`glmeval_utils.eval`; a chapter module only decides
what to train (its per-profile budget) and which comparisons to show.
"""
