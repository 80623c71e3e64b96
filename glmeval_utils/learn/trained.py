"""A content-addressed cache of trained torch estimators.

Several chapters train the same model on the same rows (chapter 7 needs the
one-hot CNN that chapter 1 chose), and a rerun of the book would retrain
every model.  :meth:`TorchEstimator.fit <glmeval_utils.learn.probes.TorchEstimator.fit>`
therefore looks its result up first, under a key that changes whenever the
result could:

* the estimator's class and every parameter except ``device`` and ``progress``;
* the bytes, shapes and dtypes of the training and validation inputs and targets;
* the source of the modules that build and train the models
  (:data:`TRAINING_MODULES`), the versions of torch, numpy and this package, the
  device type, the torch thread count (sums split across threads round
  differently, see :mod:`glmeval_utils.learn.train`) and the training steps' autocast dtype.

An entry is ``<cache>/trained/<key>/`` with two files: ``state.pt`` (the
module's ``state_dict``, tensors only, loaded with ``weights_only=True``) and
``fit.json`` (the training history), each written to a unique temporary name
and moved into place, ``fit.json`` last, so an interrupted write is never
served.  A damaged entry
is retrained with a warning naming it.  A loaded fit's ``history_`` is the
one recorded when it was trained (``seconds`` included).

Set ``GLMEVAL_TRAINED_CACHE=off`` to train every time (the test suite does,
so that tests exercise training).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from glmeval_utils import paths
from glmeval_utils.files import temporary_path
from glmeval_utils.learn.train import training_autocast_dtype

#: bump when the entry layout changes
CACHE_FORMAT_VERSION = 1
#: modules whose code decides a trained model; their source is part of every key.
TRAINING_MODULES = ("glmeval_utils.learn.train", "glmeval_utils.learn.probes", "glmeval_utils.learn.baselines",
                    "glmeval_utils.learn.elongation", "glmeval_utils.learn.splicing", "glmeval_utils.sequences",
                    "glmeval_utils.devices")
STATE_FILE = "state.pt"
FIT_FILE = "fit.json"
#: parameters that do not change the trained weights.
IGNORED_PARAMETERS = ("device", "progress")
#: rows hashed per block, so a memory-mapped input is never read whole.
HASH_BLOCK_ROWS = 4096


def enabled() -> bool:
    """Whether fits are cached (``GLMEVAL_TRAINED_CACHE`` is not ``off``/``0``/``false``)."""
    return os.environ.get("GLMEVAL_TRAINED_CACHE", "on").strip().lower() not in ("off", "0", "false", "no")


def trained_dir() -> Path:
    """Root of the trained-model cache (``<GLMEVAL_DATA>/trained``)."""
    return paths.cache_dir() / "trained"


def _source_digest() -> str:
    import importlib

    digest = hashlib.sha256()
    for name in TRAINING_MODULES:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()


def _update_with_array(digest, array) -> None:
    """Feed shape, dtype and bytes of a row-indexable array to ``digest``, a block of rows at a time."""
    digest.update(repr((tuple(array.shape), str(getattr(array, "dtype", "")))).encode())
    for start in range(0, len(array), HASH_BLOCK_ROWS):
        block = array[start:start + HASH_BLOCK_ROWS]
        block = block.cpu().numpy() if isinstance(block, torch.Tensor) else np.asarray(block)
        digest.update(np.ascontiguousarray(block).tobytes())


def fit_key(estimator, train: tuple, valid: tuple, device: torch.device) -> str:
    """The cache key of fitting ``estimator`` on ``train`` with early stopping on ``valid``.

    Parameters
    ----------
    estimator : TorchEstimator
    train, valid : tuple of (inputs, targets)
        Inputs are an array or a tuple of arrays (several model inputs);
        targets ``(N, K)``.
    device : torch.device
        Where training runs (only its type enters the key).

    Returns
    -------
    str
        64 hex digits.
    """
    from glmeval_utils import __version__

    params = {name: repr(value) for name, value in sorted(estimator.get_params().items())
              if name not in IGNORED_PARAMETERS}
    recipe = {"format": CACHE_FORMAT_VERSION, "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
              "params": params, "package": __version__, "torch": torch.__version__, "numpy": np.__version__,
              "source": _source_digest(),
              "device": device.type, "threads": torch.get_num_threads(),
              "autocast": str(training_autocast_dtype(device))}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for inputs, targets in (train, valid):
        for array in (inputs if isinstance(inputs, tuple) else (inputs,)):
            _update_with_array(digest, array)
        _update_with_array(digest, np.asarray(targets))
    return digest.hexdigest()


def load(key: str, model: torch.nn.Module, history_type) -> tuple[torch.nn.Module, object] | None:
    """The cached weights (loaded into ``model``) and training history of ``key``, or None when absent.

    A damaged entry (unreadable files, weights that do not fit ``model``) is
    removed with a warning naming it, and None is returned so the caller trains.
    """
    entry = trained_dir() / key
    if not (entry / FIT_FILE).exists():
        return None
    try:
        # everything is checked before the model is touched: a failed load must leave the seeded initial weights
        history = history_type(**json.loads((entry / FIT_FILE).read_text())["history"])
        state = torch.load(entry / STATE_FILE, map_location="cpu", weights_only=True)
        expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
        found = {name: tuple(getattr(tensor, "shape", ())) for name, tensor in state.items()}
        if found != expected:
            raise ValueError(f"the stored weights do not fit the model ({len(set(found) ^ set(expected))} names and "
                             f"{sum(found.get(n) != shape for n, shape in expected.items())} shapes differ)")
        model.load_state_dict(state)
    except Exception as error:  # any damage means: train again
        warnings.warn(f"trained-model cache entry {entry} is damaged ({type(error).__name__}: {error}); "
                      "removed, the model is trained again", RuntimeWarning, stacklevel=3)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    return model, history


def save(key: str, model: torch.nn.Module, history) -> Path:
    """Store a trained model's weights and history under ``key`` (atomic; ``fit.json`` last)."""
    entry = trained_dir() / key
    entry.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    temporary = temporary_path(entry / STATE_FILE)
    torch.save(state, temporary)
    os.replace(temporary, entry / STATE_FILE)
    temporary = temporary_path(entry / FIT_FILE)
    temporary.write_text(json.dumps({"history": dataclasses.asdict(history)}))
    os.replace(temporary, entry / FIT_FILE)
    return entry
