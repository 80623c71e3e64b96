"""Shared pytest configuration: skip `gpu` tests without CUDA, `network` tests unless asked."""

from __future__ import annotations

import os

import pytest

# Tests exercise training: the trained-model cache (glmeval_utils.learn.trained) is off unless a test
# turns it on, and notebooks executed by the tests inherit the setting.
os.environ.setdefault("GLMEVAL_TRAINED_CACHE", "off")
# fp32 embeddings on every CPU, so tolerances against reference outputs hold; test_glm_contract turns bf16 on
os.environ.setdefault("GLMEVAL_CPU_BF16", "off")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    network_enabled = os.environ.get("GLMEVAL_NETWORK_TESTS") == "1"
    needs_gpu = [item for item in items if "gpu" in item.keywords]
    if needs_gpu and not _cuda_available():
        for item in needs_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
    if not network_enabled:
        for item in items:
            if "network" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="needs the network; set GLMEVAL_NETWORK_TESTS=1"))


#: Source of a papermill parameters cell with the three parameters every chapter takes.
PARAMETERS_SOURCE = 'profile = "demo"\ndevice = "auto"\noutput_dir = "results"'


@pytest.fixture
def write_notebook():
    """Factory writing a tiny chapter notebook; returns its path.

    ``write_notebook(path, ["print(1)"], parameters=PARAMETERS_SOURCE)`` writes a
    title cell, a code cell tagged ``parameters`` (left out when ``parameters``
    is None) and one code cell per string in the list.
    """
    import nbformat

    def write(path, code_cells=(), *, parameters=PARAMETERS_SOURCE, title="# A tiny chapter"):
        cells = [nbformat.v4.new_markdown_cell(title)]
        if parameters is not None:
            cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
        cells += [nbformat.v4.new_code_cell(source) for source in code_cells]
        notebook = nbformat.v4.new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
        return path

    return write
