"""Fixtures shared across test modules."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for the module's runs: with two, float reductions may reorder between runs, so pinned metric
    rows (``pinned_metrics.py``) would only match most of the time; on 2 cores shared by 2 test workers it is also
    faster."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The tiny models, built once per test process (each pytest-xdist worker builds its own). They are read-only:
# a test that trains writes its checkpoints elsewhere. Learner imports stay inside, so collecting the env tests
# never imports torch.


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    """The tiny LLaVA-style VLM of :func:`vista_agents.tiny.build_tiny_vlm` (seed 0, default image size)."""
    pytest.importorskip("torch")
    from vista_agents.tiny import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"), seed=0)


@pytest.fixture(scope="session")
def tiny_vlm_32px(tmp_path_factory):
    """The tiny VLM at 32 px images (seed 0): the trainers' tests and their pinned metrics use it."""
    pytest.importorskip("torch")
    from vista_agents.tiny import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm-32px"), seed=0, image_size=32)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    """The tiny Qwen2.5-VL of :func:`vista_agents.tiny_qwen.build_tiny_qwen2_5_vl` (seed 0)."""
    pytest.importorskip("torch")
    from vista_agents.tiny_qwen import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen") / "model", seed=0)
