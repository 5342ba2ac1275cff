import pytest


@pytest.fixture
def toy_registry():
    """Core built-ins + the toy 1-D plugin only (no entry points)."""
    from jepa_core.registry import build_registry
    from tests import toy_seq_plugin

    return build_registry(autoload=False, plugins=[toy_seq_plugin])


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
