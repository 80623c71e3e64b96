"""Fine-tuning a gLM on a task, as scikit-learn-style estimators: LoRA adapters or every weight.

The paper probes frozen representations only; this module answers its open
question, whether the answer changes when the gLM itself is trained on the task.
:class:`FineTunedGLM` puts a small head on the gLM's last hidden state (mean
over the sequence's own tokens, batch norm, dropout, one linear layer) and trains

* ``method="lora"``: low-rank adapters (Hu et al. 2022) injected by the
  `peft <https://huggingface.co/docs/peft>`_ library into the modules
  :data:`FINE_TUNING` names for the gLM's family, with the head; every
  pretrained weight stays frozen;
* ``method="full"``: every weight of the gLM, with the head.

Both train with :func:`glmeval_utils.learn.train.fit_torch` through
:class:`~glmeval_utils.learn.probes.TorchEstimator` (Adam, early stopping on
the validation loss with the best epoch's weights restored, seeded, training
steps in bf16 on a CPU with native bf16), so the fine-tuned side follows the
same recipe as every probe.  The gLM object
passed in is never changed: each fit trains a copy of its network.

Fine-tuned fits are not kept in the trained-model cache
(:mod:`glmeval_utils.learn.trained`): an entry would be a whole copy of the
network (10 GB for the 2.5-billion-parameter Nucleotide Transformer), and the
cache's key does not cover this module's code or the ``peft`` version.

Inputs are DNA sequences; the estimator tokenises them with the gLM's own
tokenizer (:meth:`glmeval_utils.models.GLM.tokenize`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from glmeval_utils.learn.probes import TorchEstimator
from glmeval_utils.models.families import get_family
from glmeval_utils.validation import positive_int

METHODS = ("lora", "full")


@dataclass(frozen=True)
class FineTuneSettings:
    """How one gLM family is fine-tuned: LoRA targets and the training settings of both methods.

    Attributes
    ----------
    target_modules : tuple of str
        Names of the ``nn.Linear`` modules that get LoRA adapters (``peft``
        matches the end of a module's dotted name).
    modules : str
        What those modules are in the family's code.
    rank, alpha, dropout
        LoRA rank r, scaling alpha (updates are scaled by alpha / r) and dropout on the adapter input.
    lora_lr, full_lr : float
        Adam learning rates of LoRA and of full fine-tuning.
    batch_size : int
        Sequences per step on a GPU (the ``full`` profile); CPU runs take the chapter's own.
    """

    target_modules: tuple
    modules: str
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    lora_lr: float = 5e-4
    full_lr: float = 2e-5
    batch_size: int = 32


#: Fine-tuning settings per gLM family (the names were read off each family's modules: NT's native
#: ``EsmSelfAttention`` and NT v2's remote ``modeling_esm.py``, DNABERT-2's ``bert_layers.py``, HyenaDNA's
#: ``modeling_hyena.py``; ``tests/test_finetune.py`` checks them on the test look-alikes).  The teaching gLMs'
#: rows are the demo's; the others are the ``full`` profile's starting values for a GPU.
FINE_TUNING = {
    "nt": FineTuneSettings(("query", "value"), "the query and value projections of ESM self-attention "
                           "(NT v1 native; NT v2's remote code keeps the names)", batch_size=8, full_lr=1e-5),
    "dnabert2": FineTuneSettings(("Wqkv",), "MosaicBERT's fused query-key-value projection of every layer"),
    "hyenadna": FineTuneSettings(("in_proj", "out_proj"), "the input and output projections of each Hyena "
                                 "operator (the blocks' mixer)", full_lr=6e-5),
    "teaching-mlm": FineTuneSettings(("query", "value"), "the query and value projections of ESM self-attention",
                                     lora_lr=3e-3, full_lr=2e-4),
    "teaching-clm": FineTuneSettings(("q_proj", "v_proj"), "the query and value projections of Llama attention",
                                     lora_lr=3e-3, full_lr=2e-4),
}


def fine_tuning_settings(family: str) -> FineTuneSettings:
    """The :data:`FINE_TUNING` row of a gLM family; the error lists the families that have one."""
    try:
        return FINE_TUNING[family]
    except KeyError:
        raise ValueError(f"no fine-tuning settings for gLM family {family!r}; families with settings: "
                         f"{', '.join(FINE_TUNING)} (or pass target_modules= and lr=)") from None


def settings_table() -> pd.DataFrame:
    """:data:`FINE_TUNING` as a table for the book: one row per family."""
    rows = [{"family": family, **asdict(settings)} for family, settings in FINE_TUNING.items()]
    table = pd.DataFrame(rows)
    table["target_modules"] = table["target_modules"].map(", ".join)
    return table


class FineTuneNet(nn.Module):
    """A gLM network with a regression / classification head on its mean last hidden state.

    The head batch-normalises the pooled vector before its linear layer: a
    standardisation of each feature, as the frozen ridge probe standardises its
    inputs.  Without it the head learns too slowly for a few epochs of LoRA (on
    the demo's GUE set the pretrained teaching gLM's LoRA fit stayed near
    AUROC 0.55 where it reaches 0.84 with it).

    Parameters
    ----------
    backbone : transformers.PreTrainedModel
        The gLM's network (trained in place: pass a copy).
    family : str
        Its family (:data:`glmeval_utils.models.FAMILIES`), which says how hidden
        states are read and whether an attention mask is passed.
    hidden_size : int
    n_outputs : int
    dropout : float
        Dropout on the pooled vector.

    Shapes: ``(B, 3, T)`` (token ids, attention mask, content mask; any
    float or integer dtype) → ``(B, n_outputs)``.  The content mask marks the
    tokens that cover bases (special tokens and padding are 0); the mean runs
    over them.
    """

    def __init__(self, backbone: nn.Module, family: str, hidden_size: int, n_outputs: int = 1, *,
                 dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.family = family
        self.head = nn.Sequential(nn.BatchNorm1d(hidden_size), nn.Dropout(dropout), nn.Linear(hidden_size, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.long()
        width = int(tokens[:, 1].sum(1).max())  # right-padded: drop the columns every row pads
        ids, attention, content = tokens[:, 0, :width], tokens[:, 1, :width], x[:, 2, :width].float()
        family = get_family(self.family)
        mask = attention if family.padding == "mask" and not bool(attention.all()) else None
        hidden = family.hidden_states(self.backbone, ids, mask)[-1].float()
        pooled = (hidden * content[..., None]).sum(1) / content.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(pooled)


class FineTunedGLM(TorchEstimator):
    """A gLM fine-tuned on a task: LoRA adapters (``peft``) or every weight, with a linear head.

    Parameters
    ----------
    glm : models.GLM
        The gLM to start from (pretrained, or its random-init control); it is
        not changed.
    task : {"regression", "binary"}
    method : {"lora", "full"}
        LoRA adapters on :attr:`target_modules_` (the pretrained weights
        frozen) or every weight trained.
    rank, alpha, lora_dropout : optional
        LoRA rank, scaling and adapter dropout; None: the family's
        :data:`FINE_TUNING` values.  Ignored by ``method="full"``.
    target_modules : sequence of str, optional
        Modules given LoRA adapters; None: the family's.
    dropout : float
        Dropout before the head.
    lr : float, optional
        Adam learning rate; None: the family's ``lora_lr`` or ``full_lr``.
    batch_size, max_epochs, patience, lr_patience, min_lr, weight_decay
        Training settings of :func:`~glmeval_utils.learn.train.fit_torch`.
    random_state : int
        Seeds the head, the adapters' initialisation, dropout and batch order.
    device : str, optional
        None picks CUDA when available.
    progress : bool

    Fitted attributes: those of :class:`~glmeval_utils.learn.probes.TorchEstimator`
    and ``settings_`` (method, rank, alpha, target modules, learning rate,
    trainable and total parameters: what a results table records).

    Inputs ``X`` are DNA sequences (a list or 1-d array of str, one length
    limit: the gLM's ``max_length``).
    """

    #: not kept in the trained-model cache (see the module docstring)
    cache_fits = False

    def __init__(self, glm, task: str = "regression", *, method: str = "lora", rank: int | None = None,
                 alpha: int | None = None, lora_dropout: float | None = None, target_modules=None,
                 dropout: float = 0.1, lr: float | None = None, batch_size: int = 32, max_epochs: int = 10,
                 patience: int = 3, lr_patience: int = 2, min_lr: float = 1e-7, weight_decay: float = 0.0,
                 random_state: int = 0, device=None, progress: bool = True):
        self.glm = glm
        self.task = task
        self.method = method
        self.rank = rank
        self.alpha = alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _family_settings(self) -> FineTuneSettings | None:
        """The family's row, or None when every setting that needs it is given explicitly."""
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        explicit = self.lr is not None and (self.method == "full" or (
            self.target_modules is not None and self.rank is not None and self.alpha is not None
            and self.lora_dropout is not None))
        return None if explicit else fine_tuning_settings(self.glm.family)

    def _resolved(self) -> dict:
        """Method, LoRA settings and learning rate after filling in the family's defaults."""
        family = self._family_settings()

        def pick(value, name):
            return getattr(family, name) if value is None else value

        resolved = {"method": self.method, "lr": pick(self.lr, f"{self.method}_lr")}
        if self.method == "lora":
            targets = pick(self.target_modules, "target_modules")
            targets = (targets,) if isinstance(targets, str) else tuple(targets)
            if not targets:
                raise ValueError("LoRA needs at least one target module")
            resolved.update(rank=positive_int(pick(self.rank, "rank"), "rank"),
                            alpha=pick(self.alpha, "alpha"), lora_dropout=pick(self.lora_dropout, "dropout"),
                            target_modules=targets)
        return resolved

    def _train_settings(self) -> dict:
        return dict(lr=self._resolved()["lr"], batch_size=self.batch_size, min_lr=self.min_lr)

    def _prepare_inputs(self, X):
        """Token ids, attention mask and content mask, right-padded: int64 ``(N, 3, T)``."""
        if isinstance(X, np.ndarray) and X.ndim == 3:  # already prepared
            return X
        if isinstance(X, str):
            raise TypeError("FineTunedGLM needs a list of sequences, got a single string")
        seqs = [str(s) for s in X]
        tokens = self.glm.tokenize(seqs)
        content = np.zeros(tokens.input_ids.shape, dtype=np.int64)
        for row, spans in enumerate(tokens.token_spans):
            content[row, :len(spans)] = spans[:, 0] >= 0
        return np.stack([tokens.input_ids.numpy(), tokens.attention_mask.numpy(), content], axis=1)

    def _build_model(self, X, n_outputs: int) -> nn.Module:
        settings = self._resolved()
        backbone = copy.deepcopy(self.glm.model).float()
        if settings["method"] == "lora":
            from peft import LoraConfig, inject_adapter_in_model

            config = LoraConfig(r=settings["rank"], lora_alpha=settings["alpha"],
                                lora_dropout=settings["lora_dropout"], target_modules=list(settings["target_modules"]))
            try:
                backbone = inject_adapter_in_model(config, backbone)  # freezes every other weight
            except ValueError as error:
                raise ValueError(f"{self.glm.name}: LoRA target modules {settings['target_modules']} not found in "
                                 f"{type(backbone).__name__} ({error})") from error
        else:
            backbone.requires_grad_(True)
        model = FineTuneNet(backbone, self.glm.family, self.glm.hidden_size, n_outputs, dropout=self.dropout)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.settings_ = {**settings, "trainable_parameters": int(trainable),
                          "parameters": int(sum(p.numel() for p in model.parameters()))}
        return model
