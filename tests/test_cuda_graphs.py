"""CUDA graphs in fit (utils.levers): the same training step as without them. Needs a CUDA GPU; skipped elsewhere."""
import copy

import pytest
import torch
import torch.nn.functional as F

from utils.config import RunConfig
from utils.data import load_mnist
from utils.engine import build_model, fit
from utils.levers import GraphedForward
from utils.models import build

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def gpu_mnist(mnist_dir):
    """2,000 rotated training images (batch 128: 15 full batches and a short one of 80), 1,000 test images."""
    return load_mnist(mnist_dir, "cuda", augment={"rotate": 7}, train_samples=2000, test_samples=1000)


def test_capturing_leaves_weights_statistics_and_rng_as_they_were():
    model = build("garam_masala").cuda()
    before, rng = copy.deepcopy(model.state_dict()), torch.cuda.get_rng_state()
    forward = GraphedForward(model, (128, 1, 28, 28))
    for name, value in before.items():
        assert torch.equal(model.state_dict()[name], value), name
    assert torch.equal(torch.cuda.get_rng_state(), rng)
    forward.release()
    assert "forward" not in model.__dict__


@pytest.mark.parametrize("model_name", ["garam_masala", "smallest_silu"])
def test_a_graphed_step_gives_the_gradients_and_statistics_of_a_plain_one(gpu_mnist, model_name):
    torch.manual_seed(0)
    graphed_model = build(model_name).cuda()
    plain_model = copy.deepcopy(graphed_model)
    forward = GraphedForward(graphed_model, (128, 1, 28, 28))
    for size in (128, 80):  # a full batch runs the graphs, the short last one the model's own forward
        images, labels = gpu_mnist.train_images[:size], gpu_mnist.train_labels[:size]
        for model, run in ((graphed_model, forward), (plain_model, plain_model)):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(run(images), labels).backward()
        for (name, graphed), plain in zip(graphed_model.named_parameters(), plain_model.parameters()):
            torch.testing.assert_close(graphed.grad, plain.grad, rtol=1e-4, atol=1e-6, msg=f"{size}: {name}")
        for (name, graphed), plain in zip(graphed_model.named_buffers(), plain_model.buffers()):
            torch.testing.assert_close(graphed, plain, rtol=1e-5, atol=1e-6, msg=f"{size}: {name}")
    forward.release()


@pytest.mark.parametrize("recipe", [{}, {"model": "smallest_silu", "ema_decay": 0.99, "clean_epochs": 1}],
                         ids=["05", "06 recipe"])
def test_fit_with_graphs_learns_as_fit_without_them(gpu_mnist, recipe):
    """Two runs on a GPU drift apart by rounding even without graphs (kernels that add in varying order: on an
    H200, two plain runs of 05 ended with weights up to 0.03 apart), so this compares what they learn."""
    histories = {}
    for cuda_graphs in (True, False):
        config = RunConfig(**{**dict(model="garam_masala", epochs=2, batch_size=128, lr=0.1, scheduler="onecycle",
                                     seed=3, device="cuda", cuda_graphs=cuda_graphs), **recipe})
        model = build_model(config)
        histories[cuda_graphs] = fit(model, gpu_mnist, config, progress="none")
        assert "forward" not in model.__dict__  # fit gave the model its own forward back
    graphed, plain = histories[True], histories[False]
    assert graphed.lr == plain.lr
    assert graphed.train_loss == pytest.approx(plain.train_loss, rel=0.02)
    assert abs(graphed.test_acc[-1] - plain.test_acc[-1]) < 1.5


def test_dropout_draws_new_masks_on_every_replay():
    model = build("dropout").cuda()
    forward = GraphedForward(model, (64, 1, 28, 28))
    images = torch.randn(64, 1, 28, 28, device="cuda")
    with torch.no_grad():
        first = forward(images).clone()  # a replay returns its graph's output buffer: copy before the next one
        second = forward(images)
    forward.release()
    assert not torch.equal(first, second)
