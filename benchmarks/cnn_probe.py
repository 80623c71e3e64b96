"""Training the CNN probe: its input layers as row-wise BatchNorm1d + Linear vs the reference's
BatchNorm1d + 1x1 Conv1d, and fp32 vs bf16 autocast.

Both input layers compute the same function (``tests/test_probes.py`` checks
it).  This times training epochs of the demo lentiMPRA probe (``RepCNN``,
hidden 192, 230 positions, reduction to 32, width 0.25, batch 64) with each,
side by side in one run on one torch thread, on random inputs, and the
row-wise version again under bf16 autocast as
:func:`glmeval_utils.learn.train.fit_torch` trains it on a CPU with native
bf16 (skipped elsewhere).  It prints the best seconds per epoch of three and
the ratios, ending with one ``RESULT`` line.

Usage: ``python benchmarks/cnn_probe.py [--rows 640] [--hidden 192] [--length 230]``
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch import nn

from glmeval_utils.learn.train import training_autocast_dtype
from glmeval_utils.learn.probes import RepCNN


class ConvReductionRepCNN(RepCNN):
    """The same probe with its reduction as a 1x1 convolution on channels-first input (the reference's layout)."""

    def __init__(self, hidden: int, length: int, reduce_dim: int, width_factor: float):
        super().__init__(hidden, length, reduce_dim=reduce_dim, width_factor=width_factor)
        self.reduce = nn.Conv1d(hidden, reduce_dim, 1)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.input_norm(x.transpose(1, 2)))


def epoch_seconds(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int, dtype=None) -> float:
    """Wall time of one training epoch (Adam, MSE) over ``X`` after a one-batch warm-up; ``dtype``: autocast."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(rows):
        optimiser.zero_grad()
        with torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext():
            output = model(X[rows])
        loss = nn.functional.mse_loss(output.float(), y[rows])
        loss.backward()
        optimiser.step()

    step(slice(0, batch_size))
    start = time.perf_counter()
    for first in range(0, len(X), batch_size):
        step(slice(first, first + batch_size))
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=640)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--length", type=int, default=230)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X, y = torch.randn(args.rows, args.length, args.hidden), torch.randn(args.rows, 1)
    settings = dict(reduce_dim=32, width_factor=0.25)
    linear = RepCNN(args.hidden, args.length, **settings).train()
    conv = ConvReductionRepCNN(args.hidden, args.length, **settings).train()
    # alternating epochs, best of three each: the first epochs of a process pay one-off kernel set-up
    bf16 = training_autocast_dtype(torch.device("cpu"))
    linear_s = conv_s = bf16_s = float("inf")
    for _ in range(3):
        linear_s = min(linear_s, epoch_seconds(linear, X, y, args.batch_size))
        conv_s = min(conv_s, epoch_seconds(conv, X, y, args.batch_size))
        if bf16 is not None:
            bf16_s = min(bf16_s, epoch_seconds(linear, X, y, args.batch_size, dtype=bf16))
    print(f"{args.rows} rows of {args.length} x {args.hidden}, batch {args.batch_size}, one thread")
    print(f"1x1 Conv1d reduction, fp32   {conv_s:7.2f} s/epoch")
    print(f"row-wise Linear, fp32        {linear_s:7.2f} s/epoch")
    ratios = {"conv_vs_linear": conv_s / linear_s}
    targets = {"conv_vs_linear": 1.2}
    if bf16 is not None:
        print(f"row-wise Linear, bf16        {bf16_s:7.2f} s/epoch")
        ratios["fp32_vs_bf16"], targets["fp32_vs_bf16"] = linear_s / bf16_s, 1.2
    else:
        print("bf16 skipped: this CPU has no native bf16 (training stays fp32)")
    for name, target in targets.items():
        print(f"target {name} >= {target}: {ratios[name]:.2f} ({'met' if ratios[name] >= target else 'MISSED'})")
    print("RESULT " + " ".join(f"{name}={value:.3g}" for name, value in ratios.items()))


if __name__ == "__main__":
    main()
