"""Tests for glmeval_utils.devices."""

import pytest
import torch

from glmeval_utils.devices import resolve_device


@pytest.mark.parametrize("device", [None, "auto"])
def test_default_is_cuda_when_available(device):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(device) == torch.device(expected)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "cuda:1", "meta"])
def test_explicit_devices_pass_through(device):
    assert resolve_device(device) == torch.device(device)


# explicit ids: the conftest skips every test whose keywords include "gpu"
@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", 1.5], ids=["unknown-type", "bad-index", "empty", "float"])
def test_malformed_names_raise_value_error_naming_them(device):
    with pytest.raises(ValueError, match=f"device {device!r}"):
        resolve_device(device)


def test_train_and_models_use_the_one_resolver():
    from glmeval_utils.learn import train
    from glmeval_utils.models import base
    from glmeval_utils.score import attribution

    assert train.resolve_device is base.resolve_device is attribution.resolve_device is resolve_device
