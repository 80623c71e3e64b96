"""glmeval_utils: the tested helper package behind the glmeval book.

The package reads bottom-up; a module imports only from its own layer or below:

* foundations — :mod:`.sequences` (validation, one-hot, shuffles),
  :mod:`.paths` (cache locations), :mod:`.profiles` (smoke / demo / full),
  :mod:`.devices` (one device rule), :mod:`.predictions` (the prediction table
  every model writes, and model roles);
* :mod:`.data` — the data registry, parsers, splits and simulators;
* :mod:`.models` — every gLM behind one adapter contract (``load_glm``);
  :mod:`.embeddings` (the embedding cache) and :mod:`.pretrain` (teaching gLMs);
* :mod:`.learn` — the training loop, probes, one-hot baselines, the probe
  ladder and the chapter-specific networks;
* :mod:`.score` — zero-shot variant scores, attribution and motifs;
* :mod:`.eval` — metrics, statistics, selection on validation, comparisons and
  the verdict of every claim of the paper;
* :mod:`.tasks` — one module per chapter (``config`` → ``run`` → ``report``);
* :mod:`.plots` (every figure), :mod:`.book` and ``python -m glmeval_utils``.

Heavy dependencies (torch, transformers) are imported by the modules that
need them, so ``import glmeval_utils`` stays fast.
"""

import os
import warnings

__version__ = "0.1.0"

#: OpenMP settings applied (unless already set) before torch is imported.  With the default
#: policy torch's worker threads spin while they wait for each other, so one core taken by
#: another program stalls them all (measured in benchmarks/contention.py); passive threads sleep.
THREAD_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}
for _name, _value in THREAD_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

# tqdm.auto falls back to text bars where ipywidgets is missing; the fallback is fine, the warning is noise.
warnings.filterwarnings("ignore", message="IProgress not found")
