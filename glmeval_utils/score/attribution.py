"""Attribution maps and global importance analysis for every predictor.

One-hot models and gLM + probe models are made to look the same by
:class:`OneHotPredictor`, a ``torch.nn.Module`` that maps one-hot sequences
``(N, 4, L)`` to predictions ``(N, K)``.  The attribution methods then come
from **tangermeme** (gradient saliency, in-silico saturation mutagenesis) and
work on any predictor:

* :func:`saliency` — the raw input gradient ``(N, 4, L)``;
* :func:`grad_times_input` — gradient × one-hot input;
* :func:`ism` — saturation mutagenesis, the change of prediction for every
  single-base substitution against the reference, of the whole sequence or
  of a window (cheap enough to run through a gLM);
* :func:`attribution_at_observed` — the paper's per-position map: subtract the
  mean over the four bases at each position, keep the observed base.

The reference study's gLM-specific maps (Tang et al. 2025, ``motif_id/``) are
:func:`lm_entropy_attribution` (mask each position; confident predictions
mark important bases), :func:`embedding_gradient_norm` (how strongly the
downstream probe reacts to each position's embedding) and their product,
:func:`combined_attribution`.  Maps are compared with :func:`map_agreement`
(per-sequence Pearson r of absolute attributions; summarised by
:mod:`glmeval_utils.eval.attribution`).  :func:`top_sequences` picks the
sequences to explain.

Global importance analysis (GIA; Koo et al., PLoS Comput Biol 2021) embeds a
motif into dinucleotide-shuffled backgrounds and measures the mean change of
prediction: :func:`gia_motif_effect`, :func:`gia_pair_effect`, compared with a
shuffled-motif control on the same backgrounds by :func:`gia_test` (paired
Wilcoxon signed-rank test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import stats
from tangermeme.ersatz import substitute
from tangermeme.predict import predict as tangermeme_predict
from tangermeme.saliency import saliency as tangermeme_saliency
from tangermeme.saturation_mutagenesis import saturation_mutagenesis
from tqdm.auto import tqdm

from glmeval_utils.devices import resolve_device
from glmeval_utils.sequences import decode_one_hot, dinucleotide_shuffle, one_hot, reverse_complement_one_hot, validate_sequences
from glmeval_utils.validation import positive_int

__all__ = [
    "OneHotPredictor",
    "saliency",
    "grad_times_input",
    "ism",
    "mean_center",
    "attribution_at_observed",
    "lm_entropy_attribution",
    "embedding_gradient_norm",
    "combined_attribution",
    "map_agreement",
    "top_sequences",
    "GIAResult",
    "GIATest",
    "shuffle_motif",
    "gia_motif_effect",
    "gia_pair_effect",
    "gia_test",
]


def _one_hot_tensor(X) -> torch.Tensor:
    """Sequences (list of str), numpy or torch one-hot → float32 tensor ``(N, 4, L)``."""
    if isinstance(X, str):
        X = [X]
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], str):
        X = one_hot(validate_sequences(X, source="attribution input"))
    tensor = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X).float()
    if tensor.ndim != 3 or tensor.shape[1] != 4:
        raise ValueError(
            f"expected one-hot sequences of shape (N, 4, L), got {tuple(tensor.shape)}"
        )
    return tensor


def _as_2d_output(y: torch.Tensor) -> torch.Tensor:
    """Predictions ``(N,)`` or ``(N, K, 1…)`` → ``(N, K)``."""
    if y.ndim == 1:
        return y[:, None]
    if y.ndim > 2:
        if y.shape[2:].numel() != 1:
            raise ValueError(f"the model returned shape {tuple(y.shape)}; expected (N,) or (N, K)")
        return y.reshape(y.shape[0], y.shape[1])
    return y


class OneHotPredictor(torch.nn.Module):
    """Any trained predictor as a one-hot ``(N, 4, L)`` → ``(N, K)`` module.

    Two kinds of predictor are wrapped:

    * a **one-hot model** (``OneHotPredictor(model)``): a torch module on
      ``(N, 4, L)``.  The wrapper passes the input through and is
      differentiable, so every attribution method works.
    * a **gLM + probe** (:meth:`from_glm`): the one-hot input is decoded to
      strings, embedded with ``glm.embed(..., pooling=...)`` and the probe is
      applied to the embedding of one layer.

    Limits of the gLM wrapper: the gLM is run without gradients (tokenisation
    is not differentiable), so :func:`saliency` and :func:`grad_times_input`
    refuse it and :func:`ism` is the method to use; all-zero (``N``) columns
    decode to ``N``, which the gLM tokenises its own way; each forward pass
    re-embeds every sequence, so ISM costs ``3 (end - start)`` gLM passes per
    sequence (restrict it to a window with ``start``/``end``).

    Parameters
    ----------
    model : torch.nn.Module
        One-hot model returning ``(N,)`` or ``(N, K)``.
    output : int, optional
        Keep only this output column (the wrapper then returns ``(N, 1)``).
    sigmoid : bool
        Apply a sigmoid to the (selected) output, e.g. to explain
        probabilities instead of logits.
    rc_average : bool
        Average the predictions on both strands, as a
        ``baselines.OneHotEstimator(rc_augment=True)`` predicts (pass its
        ``rc_augment``); one-hot models only.
    """

    def __init__(self, model: torch.nn.Module, *, output: int | None = None, sigmoid: bool = False,
                 rc_average: bool = False):
        super().__init__()
        self.model = model
        self.output = output
        self.sigmoid = sigmoid
        self.rc_average = rc_average
        self.glm = None
        self.probe = None
        # A predictor explains a trained model: inference mode from the start.  tangermeme restores the
        # wrapper's mode after each call, and a wrapper left in training mode would put the model's
        # dropout and batch statistics back into every later prediction.
        self.eval()

    @classmethod
    def from_glm(
        cls,
        glm,
        probe,
        *,
        layer: int = -1,
        pooling: str = "full",
        strands: str = "fwd",
        probe_method: str = "predict",
        output: int | None = None,
        sigmoid: bool = False,
        batch_size: int = 32,
    ) -> "OneHotPredictor":
        """Wrap a frozen gLM and a trained probe.

        Parameters
        ----------
        glm : GLM
            Object following the gLM contract (``glm.embed``).
        probe : torch.nn.Module or estimator
            Either a torch module applied to the float32 embedding tensor
            ``(N, L, H)`` (``pooling="full"``) or ``(N, H)`` (mean/cls), or a
            fitted estimator whose ``probe_method`` takes that numpy array
            (e.g. a ``glmeval_utils.learn.probes`` estimator, ``predict``).
        layer : int
            Hidden state passed to the probe (index as in ``glm.embed``).
        pooling, strands : str
            Passed to ``glm.embed``; must match how the probe was trained.
        probe_method : str
            Estimator method giving the prediction (``"predict"``,
            ``"predict_proba"``, ``"decision_function"``); ignored for modules.
        output, sigmoid : see the class.
        batch_size : int
            ``glm.embed`` batch size.
        """
        wrapper = cls(torch.nn.Identity(), output=output, sigmoid=sigmoid)
        wrapper.model = None
        wrapper.glm = glm
        wrapper.probe = probe  # a torch probe is registered, so .to(device) moves it
        wrapper.layer = layer
        wrapper.pooling = pooling
        wrapper.strands = strands
        wrapper.probe_method = probe_method
        wrapper.embed_batch_size = positive_int(batch_size, "batch_size")
        return wrapper.eval()

    @property
    def differentiable(self) -> bool:
        """Whether gradients flow from the output to the one-hot input."""
        return self.glm is None

    def _glm_forward(self, X: torch.Tensor) -> torch.Tensor:
        seqs = decode_one_hot(X.detach().cpu().numpy())
        with torch.no_grad():
            embedding = self.glm.embed(
                seqs,
                layers=(self.layer,),
                pooling=self.pooling,
                strands=self.strands,
                batch_size=self.embed_batch_size,
                progress=False,
            )
            features = np.asarray(embedding, dtype=np.float32)[:, 0]
            if isinstance(self.probe, torch.nn.Module):
                parameter = next(self.probe.parameters(), None)
                device = parameter.device if parameter is not None else X.device
                y = self.probe(torch.from_numpy(features).to(device))
            else:
                y = torch.as_tensor(
                    np.asarray(getattr(self.probe, self.probe_method)(features), dtype=np.float32)
                )
        return y.to(X.device)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Predict from one-hot ``X`` ``(N, 4, L)``; returns ``(N, K)``."""
        if self.glm is not None:
            y = _as_2d_output(self._glm_forward(X))
        elif self.rc_average:
            y = 0.5 * (_as_2d_output(self.model(X)) + _as_2d_output(self.model(reverse_complement_one_hot(X))))
        else:
            y = _as_2d_output(self.model(X))
        if self.output is not None:
            y = y[:, self.output : self.output + 1]
        return torch.sigmoid(y) if self.sigmoid else y


def _as_predictor(model: torch.nn.Module) -> OneHotPredictor:
    """Wrap a bare one-hot model so that its output is always ``(N, K)``."""
    return model if isinstance(model, OneHotPredictor) else OneHotPredictor(model)


def _require_differentiable(model, method: str) -> None:
    if not model.differentiable:
        raise TypeError(
            f"{method} needs gradients with respect to the one-hot input, but this "
            "predictor embeds sequences with a gLM without gradients; use ism() instead"
        )


def saliency(model, X, *, target: int = 0, batch_size: int = 64, device=None, progress: bool = False) -> np.ndarray:
    """Gradient of output ``target`` with respect to the one-hot input.

    The raw (uncorrected, hypothetical) gradient; the paper's per-position
    mean subtraction happens in :func:`attribution_at_observed` /
    :func:`mean_center`.

    Parameters
    ----------
    model : torch.nn.Module
        One-hot model returning ``(N, K)`` (e.g. :class:`OneHotPredictor`).
    X : array ``(N, 4, L)``, tensor or list of str
    target : int
        Output column to explain.
    batch_size : int
    device : str or None
        ``None``: CUDA if available.
    progress : bool

    Returns
    -------
    numpy.ndarray
        ``(N, 4, L)`` float32 gradients.
    """
    batch_size = positive_int(batch_size, "batch_size")
    model = _as_predictor(model)
    _require_differentiable(model, "saliency")
    gradient = tangermeme_saliency(
        model,
        _one_hot_tensor(X),
        target=target,
        batch_size=batch_size,
        hypothetical=True,
        gradient_correction=False,
        device=resolve_device(device),
        verbose=progress,
    )
    return gradient.numpy()


def grad_times_input(model, X, *, target: int = 0, batch_size: int = 64, device=None, progress: bool = False) -> np.ndarray:
    """Gradient × input ``(N, 4, L)``: the gradient at the observed bases, zeros elsewhere."""
    X = _one_hot_tensor(X)
    return saliency(model, X, target=target, batch_size=batch_size, device=device, progress=progress) * X.numpy()


def ism(
    model,
    X,
    *,
    start: int = 0,
    end: int | None = None,
    target: int = 0,
    batch_size: int = 64,
    device=None,
    progress: bool = True,
) -> np.ndarray:
    """In-silico saturation mutagenesis: prediction change of every substitution in ``start:end``.

    Every single-base substitution inside the window is predicted (tangermeme's
    ``saturation_mutagenesis``, without gradients).  A differentiable one-hot
    model may be run with fastISM, which recomputes only what an edit changes;
    a gLM + probe (:meth:`OneHotPredictor.from_glm`) is run one full gLM pass
    per mutant, ``3 (end - start)`` per sequence, so restrict it to a window.

    Parameters
    ----------
    model : torch.nn.Module
        One-hot model or :class:`OneHotPredictor` (also around a gLM + probe).
    X : array ``(N, 4, L)``, tensor or list of str
    start, end : int
        Mutated positions ``start:end`` (``end=None``: to the end of the
        sequences); ``0 <= start < end <= L``.
    target : int
        Output column to explain.
    batch_size : int
        Number of mutated sequences per forward pass.
    device : str, torch.device or None
        ``None``: CUDA if available (:func:`glmeval_utils.devices.resolve_device`).
    progress : bool

    Returns
    -------
    numpy.ndarray
        ``(N, 4, L)`` float32: ``f(x with base b at position i) - f(x)``
        inside the window; zero at the observed base and outside the window.
        Mean-centre with :func:`mean_center` for the usual hypothetical
        contributions.

    Raises
    ------
    ValueError
        If the window does not fit the sequences.
    """
    batch_size = positive_int(batch_size, "batch_size")
    X = _one_hot_tensor(X)
    length = X.shape[-1]
    end = length if end is None else end
    if not 0 <= start < end <= length:
        raise ValueError(f"ISM window start={start}, end={end} does not fit sequences of length {length}")
    model = _as_predictor(model)
    raw = saturation_mutagenesis(
        model,
        X,
        start=start,
        end=end,
        raw_outputs=True,
        batch_size=batch_size,
        device=resolve_device(device),
        verbose=progress,
        # fastISM captures the model with torch.export, impossible through a gLM's tokenizer
        fast=model.differentiable,
    )
    delta = np.zeros(tuple(X.shape), dtype=np.float32)
    delta[:, :, start:end] = (raw.y_hat[..., target] - raw.y0[:, None, None, target]).float().numpy()
    return delta


def mean_center(attr: np.ndarray) -> np.ndarray:
    """Subtract the mean over the four bases at each position: ``(N, 4, L)`` → ``(N, 4, L)``.

    Removes the off-simplex component of a gradient (Majdandzic et al.,
    Genome Biology 2023), as the reference study did before plotting.
    """
    attr = np.asarray(attr, dtype=np.float32)
    if attr.ndim != 3 or attr.shape[1] != 4:
        raise ValueError(f"expected attributions of shape (N, 4, L), got {attr.shape}")
    return attr - attr.mean(axis=1, keepdims=True)


def attribution_at_observed(attr: np.ndarray, X) -> np.ndarray:
    """The mean-centred attribution of the observed base at each position.

    Parameters
    ----------
    attr : numpy.ndarray
        ``(N, 4, L)`` hypothetical attributions (gradients or ISM).
    X : array ``(N, 4, L)``, tensor or list of str
        The sequences the attributions belong to.

    Returns
    -------
    numpy.ndarray
        ``(N, L)``; zero at ``N`` positions.
    """
    X = _one_hot_tensor(X).numpy()
    centered = mean_center(attr)
    if centered.shape != X.shape:
        raise ValueError(f"attributions {centered.shape} and sequences {X.shape} differ in shape")
    return (centered * X).sum(axis=1)


def lm_entropy_attribution(glm, seqs: Sequence[str], *, batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """The reference study's masked-LM attribution: max(entropy) − entropy.

    Each position is masked in turn and the entropy (bits) of the gLM's
    predicted base distribution there is computed; positions the model
    reconstructs confidently get high attribution.  The maximum is taken over
    the positions of each sequence, so the least predictable base scores 0.
    For k-mer/BPE gLMs the base distribution is ``masked_log_probs``' exact
    rule (the four tokens differing from the observed one at that base), so
    bases within one token get their own entropies; the reference study
    took the entropy of the whole 6-mer distribution and repeated it over the
    token's bases.

    Parameters
    ----------
    glm : GLM
        Masked gLM (``glm.objective == "masked"``) with ``masked_log_probs``.
    seqs : sequence of str
        ``N`` sequences (lengths may differ only if you do not stack them:
        all must share length ``L`` here).
    batch_size : int
        Masked copies per gLM forward pass.
    progress : bool

    Returns
    -------
    numpy.ndarray
        ``(N, L)`` float32.
    """
    if getattr(glm, "objective", "masked") != "masked":
        raise ValueError(f"LM entropy attribution needs a masked gLM; {getattr(glm, 'name', glm)!r} is {glm.objective!r}")
    batch_size = positive_int(batch_size, "batch_size")
    seqs = validate_sequences(seqs, source="lm_entropy_attribution")
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(f"sequences must share one length, got lengths {sorted(lengths)}")
    out = np.zeros((len(seqs), lengths.pop() if seqs else 0), dtype=np.float32)
    for row, seq in enumerate(tqdm(seqs, desc="LM entropy", disable=not progress)):
        log_probs = np.asarray(glm.masked_log_probs(seq, list(range(len(seq))), batch_size=batch_size), dtype=np.float64)
        # renormalise over ACGT: float32 rows need not sum to exactly one
        log_probs = log_probs - np.logaddexp.reduce(log_probs, axis=1, keepdims=True)
        probs = np.exp(log_probs)
        # an impossible base (-inf: a BPE substitution outside the vocabulary) adds 0, not 0 * -inf = NaN
        entropy = -np.multiply(probs, log_probs, out=np.zeros_like(probs), where=probs > 0).sum(axis=1) / np.log(2)
        out[row] = entropy.max() - entropy
    return out


def embedding_gradient_norm(
    probe_module: torch.nn.Module, embeddings, *, target: int = 0, batch_size: int = 64, device=None
) -> np.ndarray:
    """Per-position L2 norm of the probe's gradient with respect to the embedding.

    Parameters
    ----------
    probe_module : torch.nn.Module
        Trained probe on full embeddings (e.g. ``CNNProbe().model_``), taking
        ``(N, L, H)`` and returning ``(N,)`` or ``(N, K)``.
    embeddings : array ``(N, L, H)``
        ``glm.embed(..., pooling="full")`` of one layer.
    target : int
        Output column.
    batch_size : int
    device : str or None

    Returns
    -------
    numpy.ndarray
        ``(N, L)`` float32.
    """
    batch_size = positive_int(batch_size, "batch_size")
    device = resolve_device(device)
    embeddings = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    if embeddings.ndim != 3:
        raise ValueError(f"expected embeddings of shape (N, L, H), got {tuple(embeddings.shape)}")
    was_training = probe_module.training
    original = next(probe_module.parameters(), torch.empty(0)).device
    probe_module.eval().to(device)
    norms = []
    try:
        for start in range(0, len(embeddings), batch_size):
            batch = embeddings[start : start + batch_size].to(device).requires_grad_()
            output = _as_2d_output(probe_module(batch))[:, target].sum()
            (gradient,) = torch.autograd.grad(output, batch)
            norms.append(gradient.norm(dim=-1).detach().cpu())
    finally:
        probe_module.train(was_training).to(original)
    return torch.cat(norms).numpy()


def combined_attribution(lm_attr: np.ndarray, probe_grad_norm: np.ndarray) -> np.ndarray:
    """The reference study's combined gLM map: LM attribution × probe gradient norm, ``(N, L)``."""
    lm_attr, probe_grad_norm = np.asarray(lm_attr), np.asarray(probe_grad_norm)
    if lm_attr.shape != probe_grad_norm.shape:
        raise ValueError(f"LM attribution {lm_attr.shape} and gradient norm {probe_grad_norm.shape} differ in shape")
    return lm_attr * probe_grad_norm


def map_agreement(attr_a: np.ndarray, attr_b: np.ndarray) -> np.ndarray:
    """Per-sequence Pearson r between the absolute values of two ``(N, L)`` maps.

    Returns
    -------
    numpy.ndarray
        ``(N,)``; NaN where a map is constant.
    """
    a, b = np.abs(np.asarray(attr_a, dtype=np.float64)), np.abs(np.asarray(attr_b, dtype=np.float64))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two (N, L) maps of one shape, got {a.shape} and {b.shape}")
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


@dataclass
class GIAResult:
    """Global importance of an embedded pattern.

    Attributes
    ----------
    pattern : str
        What was embedded (a motif, or ``"A+<spacing>+B"`` for a pair).
    starts : tuple of int
        Start position of each embedded motif.
    effects : numpy.ndarray
        ``(B,)`` prediction with the pattern minus prediction without, one per
        shuffled background (``B = N * n_shuffles``, the shuffles of one
        background next to each other).
    mean : float
        Mean effect.
    n_shuffles : int
        Shuffles per background.
    """

    pattern: str
    starts: tuple
    effects: np.ndarray
    mean: float
    n_shuffles: int = 1

    @property
    def per_background(self) -> np.ndarray:
        """``(N,)`` mean effect over the shuffles of each background: the independent units."""
        return self.effects.reshape(-1, self.n_shuffles).mean(axis=1)


@dataclass
class GIATest:
    """Paired test of GIA effects against a control measured on the same backgrounds.

    Attributes
    ----------
    statistic : float
        Wilcoxon signed-rank statistic of the per-background differences.
    p_value : float
        Two-sided p value.
    mean_difference : float
        Mean over backgrounds of (motif effect - control effect); positive
        for an activating motif, negative for a repressive one.
    n : int
        Number of paired backgrounds.
    test : str
        Name of the test.
    """

    statistic: float
    p_value: float
    mean_difference: float
    n: int
    test: str


def shuffle_motif(motif: str, *, seed=None) -> str:
    """The motif's letters in random order: a composition-matched control."""
    rng = np.random.default_rng(seed)
    return "".join(rng.permutation(list(motif)))


def _shuffled_backgrounds(backgrounds, n_shuffles: int, seed) -> torch.Tensor:
    """Dinucleotide shuffles of each background: ``(N * n_shuffles, 4, L)``."""
    if isinstance(backgrounds, (list, tuple)) and backgrounds and isinstance(backgrounds[0], str):
        seqs = validate_sequences(backgrounds, source="GIA backgrounds")
    else:
        seqs = decode_one_hot(_one_hot_tensor(backgrounds).numpy())
    rng = np.random.default_rng(seed)
    shuffled = [dinucleotide_shuffle(seq, seed=rng) for seq in seqs for _ in range(n_shuffles)]
    return torch.from_numpy(one_hot(shuffled))


def _gia(model, backgrounds, inserts, *, pattern, n_shuffles, seed, target, batch_size, device) -> GIAResult:
    batch_size = positive_int(batch_size, "batch_size")
    X = _shuffled_backgrounds(backgrounds, n_shuffles, seed)
    length = X.shape[-1]
    X_with = X
    for motif, start in inserts:
        if start < 0 or start + len(motif) > length:
            raise ValueError(f"motif {motif!r} at {start} does not fit sequences of length {length}")
        X_with = substitute(X_with, motif, start=start)
    model, device = _as_predictor(model), resolve_device(device)
    y_without = tangermeme_predict(model, X, batch_size=batch_size, device=device)
    y_with = tangermeme_predict(model, X_with, batch_size=batch_size, device=device)
    effects = (y_with[:, target] - y_without[:, target]).double().numpy()
    return GIAResult(pattern, tuple(start for _, start in inserts), effects, float(effects.mean()), n_shuffles)


def gia_motif_effect(
    model,
    backgrounds,
    motif: str,
    *,
    position: int | None = None,
    n_shuffles: int = 1,
    seed=0,
    target: int = 0,
    batch_size: int = 64,
    device=None,
) -> GIAResult:
    """Global importance of one motif embedded into shuffled backgrounds.

    Parameters
    ----------
    model : torch.nn.Module
        One-hot predictor (e.g. :class:`OneHotPredictor`).
    backgrounds : list of str or array ``(N, 4, L)``
        Sequences whose dinucleotide shuffles serve as backgrounds.
    motif : str
        Motif (``ACGT``; ``N`` keeps the background base).
    position : int, optional
        Start of the motif; default centred.
    n_shuffles : int
        Shuffles per background (``B = N * n_shuffles``).
    seed : int
        Seeds the shuffles: the same seed gives the same backgrounds, so a
        motif and its control are compared on identical backgrounds.
    target : int
        Output column.
    batch_size, device : see :func:`ism`.

    Returns
    -------
    GIAResult
    """
    length = _shuffled_length(backgrounds)
    start = (length - len(motif)) // 2 if position is None else position
    return _gia(model, backgrounds, [(motif, start)], pattern=motif, n_shuffles=n_shuffles,
                seed=seed, target=target, batch_size=batch_size, device=device)


def gia_pair_effect(
    model,
    backgrounds,
    motif_a: str,
    motif_b: str,
    *,
    spacing: int,
    position: int | None = None,
    n_shuffles: int = 1,
    seed=0,
    target: int = 0,
    batch_size: int = 64,
    device=None,
) -> GIAResult:
    """Global importance of two motifs separated by ``spacing`` bases.

    ``position`` is the start of ``motif_a`` (default: the pair centred);
    ``motif_b`` starts ``spacing`` bases after the end of ``motif_a``.  Other
    parameters as in :func:`gia_motif_effect`.
    """
    if spacing < 0:
        raise ValueError("spacing must be non-negative")
    width = len(motif_a) + spacing + len(motif_b)
    start = (_shuffled_length(backgrounds) - width) // 2 if position is None else position
    inserts = [(motif_a, start), (motif_b, start + len(motif_a) + spacing)]
    return _gia(model, backgrounds, inserts, pattern=f"{motif_a}+{spacing}+{motif_b}", n_shuffles=n_shuffles,
                seed=seed, target=target, batch_size=batch_size, device=device)


def _shuffled_length(backgrounds) -> int:
    if isinstance(backgrounds, (list, tuple)) and backgrounds and isinstance(backgrounds[0], str):
        return len(backgrounds[0])
    return int(np.asarray(backgrounds).shape[-1])


def gia_test(result_motif: GIAResult, result_control: GIAResult) -> GIATest:
    """Does the motif change the prediction differently from its control?

    The motif and its control are embedded into the *same* backgrounds, so
    the test is paired: a two-sided Wilcoxon signed-rank test of the
    per-background differences (motif effect - control effect), each
    background's shuffles averaged first (they are not independent).  Pairing
    removes the background-to-background variation that would swamp a small
    consistent effect in an unpaired test, and two sides let repressive
    motifs count as well as activating ones.

    Parameters
    ----------
    result_motif, result_control : GIAResult
        ``(B,)`` effects each, on the same backgrounds: typically
        ``gia_motif_effect(m, bg, motif)`` and
        ``gia_motif_effect(m, bg, shuffle_motif(motif))`` with one
        ``seed`` and ``n_shuffles``.

    Returns
    -------
    GIATest
        ``p_value = 1`` when motif and control have identical effects on
        every background (e.g. a shuffle that gave back the motif).

    Raises
    ------
    ValueError
        If the two results hold different numbers of effects (they cannot
        come from the same backgrounds).
    """
    motif_effects, control_effects = result_motif.per_background, result_control.per_background
    if motif_effects.shape != control_effects.shape:
        raise ValueError(
            f"result_motif ({result_motif.pattern!r}) has {motif_effects.shape} effects and result_control "
            f"({result_control.pattern!r}) has {control_effects.shape}; a paired test needs both measured on "
            "the same backgrounds (same backgrounds, n_shuffles and seed)"
        )
    differences = motif_effects - control_effects
    name = "Wilcoxon signed-rank (paired, two-sided)"
    if not differences.any():  # scipy would divide by a zero variance
        return GIATest(0.0, 1.0, 0.0, len(differences), name)
    statistic, p_value = stats.wilcoxon(differences, alternative="two-sided")
    return GIATest(float(statistic), float(p_value), float(differences.mean()), len(differences), name)


def top_sequences(scores, n: int, *, mask=None) -> np.ndarray:
    """Indices of the ``n`` highest scores, best first.

    Parameters
    ----------
    scores : array-like ``(N,)``
        Model predictions (e.g. seed-averaged test predictions).
    n : int
        How many to keep (fewer if fewer are eligible).
    mask : array-like of bool ``(N,)``, optional
        Only these rows are eligible (e.g. the positives of a binary task).

    Returns
    -------
    numpy.ndarray
        ``(min(n, eligible),)`` int indices into ``scores``; ties keep input order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    if n < 1:
        raise ValueError("n must be at least 1")
    eligible = np.ones(len(scores), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if eligible.shape != scores.shape:
        raise ValueError(f"mask has shape {eligible.shape}, scores {scores.shape}")
    eligible &= np.isfinite(scores)
    candidates = np.flatnonzero(eligible)
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order[:n]]
