"""Learning: one training loop and the estimators trained on top of it.

* :mod:`.train` — ``fit_torch`` (early stopping on validation, seeds, device)
  and ``predict_torch``;
* :mod:`.probes` — scikit-learn-style probes on frozen embeddings (linear,
  MLP with PCA-whitened input, CNN on full embeddings);
* :mod:`.baselines` — one-hot CNN, ResNet, MPRAnn and their estimator;
  composition features;
* :mod:`.ladder` — the representation ladder every supervised chapter climbs;
* :mod:`.splicing`, :mod:`.elongation` — the paper's chapter-specific networks
  (MTSplice CNN, Siamese pair model; ``model_2CNN`` and its data-fraction protocol).
"""
