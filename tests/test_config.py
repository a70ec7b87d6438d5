import pytest
import torch

from utils.config import SMOKE_EPOCHS, RunConfig


@pytest.mark.parametrize("field, value, allowed", [
    ("model", "lenet", "one of"),
    ("optimizer", "rmsprop", "one of \\['sgd', 'adam'\\]"),
    ("scheduler", "cosine", "one of \\['none', 'step', 'onecycle', 'piecewise'\\]"),
    ("epochs", 0, "an integer from 1 to 100"),
    ("epochs", 101, "an integer from 1 to 100"),
    ("epochs", 2.5, "an integer from 1 to 100"),
    ("batch_size", 0, "an integer from 1"),
    ("batch_size", -8, "an integer from 1"),
    ("lr", 0, "a number in \\(0, 10\\]"),
    ("lr", -0.1, "a number in \\(0, 10\\]"),
    ("lr", "fast", "a number in \\(0, 10\\]"),
    ("smoke", "yes", "True or False"),
    ("cuda_graphs", 1, "True or False"),
    ("ema_decay", 1, "a number in \\[0, 1\\)"),
    ("ema_decay", -0.5, "a number in \\[0, 1\\)"),
    ("recalibrate_average", True, "True or False, and True only with ema_decay > 0"),  # ema_decay 0: no average
    ("recalibrate_average", "yes", "True or False"),
    ("clean_epochs", 16, "at most epochs \\(15\\)"),
    ("clean_epochs", -1, "an integer from 0 to 100"),
    ("device", "tpu", "'auto', 'cpu', 'cuda'"),
])
def test_bad_values_name_the_field_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=f"RunConfig.{field}=.*is not allowed: {allowed}"):
        RunConfig(**{"model": "dropout", field: value})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_up_front():
    with pytest.raises(ValueError, match="RunConfig.device='cuda' is not allowed: this machine has no CUDA GPU"):
        RunConfig(model="dropout", device="cuda")


def test_unknown_augment_key_is_refused():
    with pytest.raises(ValueError, match="augment: unknown option"):
        RunConfig(model="dropout", augment={"rotate": 5, "mixup": 1})


def test_smoke_trains_a_few_epochs_but_still_checks_epochs():
    assert RunConfig(model="dropout", epochs=15, smoke=True).epochs == SMOKE_EPOCHS == 3
    assert RunConfig(model="dropout", epochs=2, smoke=True).epochs == 2
    smoke = RunConfig.from_recipe("07_speedrun", smoke=True)  # clean last 4 epochs, of 3
    assert smoke.clean_epochs == 3
    assert RunConfig(**smoke.to_dict()).to_dict() == smoke.to_dict()  # a saved smoke config loads again
    with pytest.raises(ValueError, match="RunConfig.epochs=0"):
        RunConfig(model="dropout", epochs=0, smoke=True)


def test_auto_device_resolves_to_what_the_machine_has():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert RunConfig(model="dropout").resolved_device.type == expected


@pytest.mark.parametrize("scheduler, points, allowed", [
    ("onecycle", [[0, 1], [15, 0]], "empty unless scheduler is 'piecewise'"),
    ("piecewise", [], "two or more"),
    ("piecewise", [[0, 1]], "two or more"),
    ("piecewise", [[1, 1], [15, 0]], "rising from 0"),  # must start at epoch 0
    ("piecewise", [[0, 1], [8, 0.5], [4, 0]], "rising from 0"),
    ("piecewise", [[0, 1], [10, 0]], "at least the last \\(14"),  # ends before the run's last epoch
    ("piecewise", [[0, -1], [15, 0]], "shares from 0 to 1"),
    ("piecewise", [[0, 1e6], [15, 0]], "shares from 0 to 1"),
    ("piecewise", [[0, float("inf")], [15, 0]], "finite numbers"),
    ("piecewise", [[0, 1], [float("inf"), 0]], "finite numbers"),
    ("piecewise", [[0, 1, 2], [15, 0]], "pairs"),
    ("piecewise", "0 1 15 0", "pairs"),
])
def test_piecewise_lr_points_are_checked(scheduler, points, allowed):
    with pytest.raises(ValueError, match=f"RunConfig.lr_points=.*is not allowed: .*{allowed}"):
        RunConfig(model="baseline", scheduler=scheduler, lr_points=points, device="cpu")


def test_a_piecewise_schedule_holds_each_epoch_at_its_point_on_the_line():
    """The anchor's schedule (its CustomOneCycleLR: np.interp over epochs, one value per epoch)."""
    import numpy as np

    from utils.engine import lr_schedule

    points = [[0, 0.5], [2, 1.0], [8, 0.1], [12, 0.025], [15, 0.0]]
    config = RunConfig(model="baseline", lr=0.1, scheduler="piecewise", lr_points=points, device="cpu")
    rates = lr_schedule(config, steps_per_epoch=4)
    anchors = np.interp(np.arange(15), [0, 2, 8, 12, 15], [0.05, 0.1, 0.01, 0.0025, 0.0])
    assert rates == pytest.approx(np.repeat(anchors, 4).tolist())
    assert RunConfig(model="baseline", scheduler="onecycle", lr_points=(), device="cpu").lr_points == []
