"""Integration: real training on the full real MNIST, on the CPU."""
import pytest

from utils.config import RunConfig
from utils.data import load_mnist
from utils.engine import build_model, fit
from utils.lab import series
from utils.metrics import EPOCH_LIMIT, PARAM_LIMIT


def test_seed_model_passes_95_percent_after_one_epoch_on_a_third_of_the_images(mnist_dir):
    """The seed's training learns: one epoch on the first 20,000 training images, tested on all 10,000 test images
    (seed 1 gives 96.8 % on the AVX2 kernels)."""
    config = RunConfig(model="dropout", epochs=1, batch_size=128, lr=0.015, seed=1, device="cpu",
                       data_dir=str(mnist_dir))
    model = build_model(config)
    history = fit(model, load_mnist(mnist_dir, "cpu", train_samples=20000), config, progress="lines")
    assert history.test_acc[0] > 95.0


@pytest.mark.slow
def test_headline_notebook_reaches_the_target_in_a_full_run(mnist_dir):
    """Notebook 05, full schedule, through the runner: >= 99.40 % in each of its last 3 epochs, < 8,000 params."""
    (outcome,) = series.run_series(["05"], publish=False, log=print)
    assert not outcome.error, outcome.error
    record = outcome.record
    assert not record["smoke"] and record["epochs"] <= EPOCH_LIMIT and record["params"] < PARAM_LIMIT
    assert record["target_reached"], f"test accuracy per epoch: {record['test_acc']}"
