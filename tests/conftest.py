"""Shared pytest fixtures."""
import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Tiny models run faster on one thread, and much faster on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
