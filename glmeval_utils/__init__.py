"""glmeval_utils: the tested helper package behind the glmeval book.

Each module owns one concern (see the project README): ``sequences``,
``datasets``, ``models``, ``embeddings``, ``pretrain``, ``probes``,
``baselines``, ``train``, ``stats``, ``metrics``, ``results``, ``zeroshot``,
``attribution``, ``motifs``, ``plots`` and ``book``.  Heavy dependencies
(torch, transformers) are imported by the modules that need them, so
``import glmeval_utils`` stays fast.
"""

__version__ = "0.1.0"
