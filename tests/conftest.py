"""Shared fixtures: real MNIST, fetched and verified once per session into the repository's data/ folder; every
test starts with the session's thread count."""
import os

import pytest
import torch

from utils.data import load_mnist
from utils.mnist import ensure_mnist
from utils.project import ROOT

DATA_DIR = ROOT / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: over about 20 s each: executes several notebooks, starts Ray, or trains "
                                       "for minutes; python -m pytest -m 'not slow' is the fast lane")


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(autouse=True)
def threads_put_back():
    """A run on a pool (utils.lab.scale.set_threads) sets this process's torch threads and the variables its notebook
    kernels inherit; the next test computes with the session's own again (the thread count moves the last digits)."""
    variables = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    threads = torch.get_num_threads()
    yield
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist_dir():
    ensure_mnist(DATA_DIR)
    return DATA_DIR


@pytest.fixture(scope="session")
def small_mnist(mnist_dir):
    """The first 2,000 training and 1,000 test images of real MNIST, on the CPU."""
    return load_mnist(mnist_dir, "cpu", train_samples=2000, test_samples=1000)
