"""Shared helpers for the modelling tests (probes, baselines, training loop)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest single-threaded on a shared 2-core machine.

    Import this fixture into a test module to apply it to every test there.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
