import pytest


@pytest.fixture
def toy_registry():
    """Core built-ins + the toy 1-D plugin only (no entry points)."""
    from jepa_core.registry import build_registry
    from tests import toy_seq_plugin

    return build_registry(autoload=False, plugins=[toy_seq_plugin])


SLOWEST_FIRST = ("test_image_demo.py", "test_video_demo.py", "test_image_lejepa_demo.py")
"""The demo runs, scheduled first so that ``pytest -n 2`` (``make test``) starts them before the
short tests instead of ending on them."""


def pytest_collection_modifyitems(config, items):
    import torch

    items.sort(key=lambda item: item.path.name not in SLOWEST_FIRST)  # stable: the rest keep their order
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
