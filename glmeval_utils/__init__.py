"""glmeval_utils: the tested helper package behind the glmeval book.

Each module owns one concern (see the project README): ``sequences``,
``datasets``, ``models``, ``embeddings``, ``pretrain``, ``probes``,
``baselines``, ``train``, ``stats``, ``metrics``, ``results``, ``zeroshot``,
``attribution``, ``motifs``, ``plots`` and ``book``.  Heavy dependencies
(torch, transformers) are imported by the modules that need them, so
``import glmeval_utils`` stays fast.
"""

import warnings

__version__ = "0.1.0"

# tqdm.auto falls back to text bars where ipywidgets is missing; the fallback is fine, the warning is noise.
warnings.filterwarnings("ignore", message="IProgress not found")
