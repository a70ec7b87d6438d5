"""CUDA graphs in fit (utils.graphs): the same training as without them. Needs a CUDA GPU; skipped elsewhere."""
import pytest
import torch

from utils.config import RunConfig
from utils.data import load_mnist
from utils.engine import fit, seed_everything
from utils.graphs import GraphedForward
from utils.models import build

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def gpu_mnist(mnist_dir):
    """2,000 rotated training images (batch 128: 15 full batches and a short one of 80), 1,000 test images."""
    return load_mnist(mnist_dir, "cuda", augment={"rotate": 7}, train_samples=2000, test_samples=1000)


def run(data, cuda_graphs, **overrides):
    config = RunConfig(**{**dict(model="garam_masala", epochs=2, batch_size=128, lr=0.1, scheduler="onecycle",
                                 seed=3, device="cuda", cuda_graphs=cuda_graphs), **overrides})
    seed_everything(config.seed)
    model = build(config.model)
    return model, fit(model, data, config, progress="none")


@pytest.mark.parametrize("recipe", [{}, {"model": "smallest_silu", "ema_decay": 0.99, "clean_epochs": 1}],
                         ids=["05", "06 recipe"])
def test_graphed_training_matches_training_without_graphs(gpu_mnist, recipe):
    graphed_model, graphed = run(gpu_mnist, True, **recipe)
    plain_model, plain = run(gpu_mnist, False, **recipe)
    assert "forward" not in graphed_model.__dict__  # fit gave the model its own forward back
    assert graphed.lr == plain.lr
    for name, value in plain_model.state_dict().items():
        torch.testing.assert_close(graphed_model.state_dict()[name], value, rtol=1e-3, atol=1e-4, msg=name)
    assert graphed.test_loss == pytest.approx(plain.test_loss, rel=1e-3)


def test_dropout_draws_new_masks_on_every_replay():
    model = build("seed").cuda()
    forward = GraphedForward(model, (64, 1, 28, 28))
    images = torch.randn(64, 1, 28, 28, device="cuda")
    with torch.no_grad():
        first, second = forward(images), forward(images)
    forward.release()
    assert not torch.equal(first, second)
