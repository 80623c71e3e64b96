"""Embedding throughput: naive Hugging Face loop vs ``glm.embed`` vs the cache, side by side.

One run, one model (the largest demo gLM: ``teaching-mlm`` when pre-trained,
else its random-init control), one input set (the first ``--n-sequences``
lentiMPRA demo constructs, 230 nt).  Measures:

a. a naive loop: tokenize one sequence, forward with ``output_hidden_states``,
   copy to numpy, mean over the nucleotide tokens (the reference values);
b. ``glm.embed`` (batched), last layer, mean pooling;
c. every hidden state from one pass vs one pass per hidden state;
d. a warm :func:`glmeval_utils.embeddings.extract` (cache read) vs a cold one;
e. ``glm.embed`` in bf16 inside :func:`glmeval_utils.devices.reduced_precision`
   (where this CPU has native bf16) vs fp32.

(a) to (d) run in fp32.
It prints sequences/s, the ratios, the largest absolute difference between
(a) and (b), and the arithmetic rate of (b) (2 × parameters × tokens / s)
next to this machine's fp32 ``torch.mm`` rate, ending with one ``RESULT`` line.

Usage: ``python benchmarks/embed_throughput.py [--n-sequences 512] [--batch-size 64]``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from glmeval_utils import devices, embeddings
from glmeval_utils.data import registry
from glmeval_utils.models import load_glm, teaching_tokenizer
from glmeval_utils.models.registry import teaching_model_dir


def timed(function, *, repeats: int = 1):
    """Best wall time over ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def naive_embed(glm, tokenizer, seqs):
    """Reference: one sequence per forward pass, mean over the nucleotide tokens of the last layer.

    Returns
    -------
    numpy.ndarray
        ``(N, H)`` float32.
    """
    special = set(tokenizer.all_special_ids)
    out = []
    with torch.inference_mode():
        for seq in seqs:
            encoded = tokenizer(seq, return_tensors="pt")
            hidden = glm.model(**encoded, output_hidden_states=True).hidden_states[-1][0].numpy()
            is_base = np.array([token not in special for token in encoded["input_ids"][0].tolist()])
            out.append(hidden[is_base].mean(axis=0))
    return np.stack(out)


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Measured fp32 ``torch.mm`` rate of this machine on square matrices (GFLOP/s)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    seconds, _ = timed(lambda: torch.mm(a, b), repeats=repeats)
    return 2 * size**3 / seconds / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sequences", type=int, default=512, help="first N demo sequences (0 = all)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="sequences per forward pass (default: the adapter's device default)")
    args = parser.parse_args(argv)

    name = "teaching-mlm" if (teaching_model_dir("mlm") / "config.json").exists() else "teaching-mlm-random"
    glm = load_glm(name, device="cpu")
    hf_tokenizer = teaching_tokenizer("mlm")
    seqs = list(registry.load("lentimpra_hepg2", profile="demo", progress=False)["seq"])
    if args.n_sequences:
        seqs = seqs[:args.n_sequences]
    n = len(seqs)
    n_params = sum(p.numel() for p in glm.model.parameters())
    n_tokens = sum(len(hf_tokenizer(s)["input_ids"]) for s in seqs)
    print(f"model {name}: {glm.n_layers} layers, hidden {glm.hidden_size}, {n_params:,} parameters; "
          f"{n} sequences of {len(seqs[0])} nt ({n_tokens:,} tokens); torch threads {torch.get_num_threads()}")

    glm.embed(seqs[:16], batch_size=args.batch_size, progress=False)  # warm-up
    naive_s, reference = timed(lambda: naive_embed(glm, hf_tokenizer, seqs))
    ours_s, ours = timed(lambda: glm.embed(seqs, layers=(-1,), pooling="mean", batch_size=args.batch_size,
                                           progress=False))
    max_abs_diff = float(np.abs(ours[:, 0] - reference).max())
    all_s, _ = timed(lambda: glm.embed(seqs, layers="all", batch_size=args.batch_size, progress=False))
    per_layer_s, _ = timed(lambda: [glm.embed(seqs, layers=(k,), batch_size=args.batch_size, progress=False)
                                    for k in range(glm.n_layers + 1)])
    with tempfile.TemporaryDirectory() as cache:
        run = dict(layers=(-1,), pooling="mean", batch_size=args.batch_size, cache_dir=cache, progress=False)
        cold_s, _ = timed(lambda: np.asarray(embeddings.extract(glm, seqs, **run).layer(-1)))
        warm_s, warm = timed(lambda: np.asarray(embeddings.extract(glm, seqs, **run).layer(-1)), repeats=3)
    with devices.reduced_precision():  # as the embeddings probes read are extracted
        bf16 = devices.cpu_autocast_dtype() is not None
        if bf16:
            glm.embed(seqs[:16], batch_size=args.batch_size, progress=False)  # warm-up
            bf16_s, low = timed(lambda: glm.embed(seqs, layers=(-1,), pooling="mean",
                                                  batch_size=args.batch_size, progress=False))
        bf16_error = float(np.abs(low - ours).max() / np.abs(ours).max())
    gflops = 2 * n_params * n_tokens / ours_s / 1e9
    gemm = matmul_gflops()

    rows = [("a naive HF loop", naive_s), ("b glm.embed", ours_s), ("c all layers, one pass", all_s),
            (f"c one pass per layer (x{glm.n_layers + 1})", per_layer_s), ("d cold extract", cold_s),
            ("d warm extract (cache read)", warm_s)] + ([("e glm.embed in bf16", bf16_s)] if bf16 else [])
    for label, seconds in rows:
        print(f"{label:<34s} {seconds:9.3f} s  {n / seconds:12.1f} seq/s")
    ratios = {"extraction_vs_naive": naive_s / ours_s, "gemm_fraction": gflops / gemm,
              "all_layers_vs_per_layer": per_layer_s / all_s, "warm_vs_cold": cold_s / warm_s}
    print(f"glm.embed: {gflops:.1f} GFLOP/s (2 x params x tokens / s); torch.mm fp32: {gemm:.1f} GFLOP/s")
    print(f"max |glm.embed - naive| = {max_abs_diff:.2e}; cached values equal glm.embed: "
          f"{np.allclose(warm, ours[:, 0], atol=1e-5)}")
    targets = {"extraction_vs_naive": 1.0, "gemm_fraction": 0.5,
               "all_layers_vs_per_layer": (glm.n_layers + 1) / 2, "warm_vs_cold": 50.0}
    if bf16:
        ratios["bf16_vs_fp32"] = ours_s / bf16_s
        targets["bf16_vs_fp32"] = 1.2
        print(f"bf16: largest difference from fp32 {bf16_error:.2%} of the largest fp32 value")
    else:
        print("e skipped: this CPU has no native bf16 (embeddings stay fp32)")
    for metric, target in targets.items():
        verdict = "met" if ratios[metric] >= target else "MISSED"
        print(f"target {metric} >= {target:g}: {ratios[metric]:.2f} ({verdict})")
    print(f"target max_abs_diff <= 1e-4: {'met' if max_abs_diff <= 1e-4 else 'MISSED'}")
    print("RESULT " + " ".join(f"{k}={v:.3g}" for k, v in ratios.items()) + f" max_abs_diff={max_abs_diff:.3g}")


if __name__ == "__main__":
    main()
