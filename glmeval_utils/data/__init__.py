"""The data layer: the registry of data sets, their parsers, splits and simulators.

* :mod:`.registry` — declared data sets (upstream files at pinned commits or
  the paper's Zenodo record, sha256, licence), hash-verified fetching (pooch,
  ``GLMEVAL_MIRROR``), :func:`~.registry.load` with profile subsets;
* :mod:`.loaders` — one parser per upstream format → tidy table;
* :mod:`.splits` — deterministic subsets and :class:`~.splits.TaskData`;
* :mod:`.simulate` — documented generative models for teaching (planted
  motifs, Pol II elongation); their tables are flagged ``simulated``.
"""
