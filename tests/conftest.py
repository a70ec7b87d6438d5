"""Shared fixtures: real MNIST, fetched and verified once per session into the repository's data/ folder."""
import pytest

from utils.data import load_mnist
from utils.mnist import ensure_mnist
from utils.project import ROOT

DATA_DIR = ROOT / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: over about 20 s each: executes several notebooks, starts Ray, or trains "
                                       "for minutes; python -m pytest -m 'not slow' is the fast lane")


@pytest.fixture(scope="session")
def mnist_dir():
    ensure_mnist(DATA_DIR)
    return DATA_DIR


@pytest.fixture(scope="session")
def small_mnist(mnist_dir):
    """The first 2,000 training and 1,000 test images of real MNIST, on the CPU."""
    return load_mnist(mnist_dir, "cpu", train_samples=2000, test_samples=1000)
