"""Fixtures shared across test modules."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module's runs: with two, float reductions may reorder between runs, so pinned metric
    rows (``pinned_metrics.py``) would only match most of the time; on 2 cores shared by 2 test workers it is also faster."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
