import os

# Any accidental hub call fails fast instead of hanging on the closed network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own pcclip cache, so nothing leaks between tests or into ~/.cache."""
    monkeypatch.setenv("PCCLIP_CACHE", str(tmp_path_factory.mktemp("pcclip-cache")))
