import dataclasses

import pytest
import torch

from utils.checkpoint import CheckpointError, load_checkpoint
from utils.config import RunConfig
from utils.engine import History, build_model, derived_seed, evaluate, fit
from utils.metrics import first_epoch_at_target, target_reached


def configured(tmp_path=None, **overrides):
    """A fresh model and the config of a short run on the CPU (3 epochs of the seed's model, rotated, one-cycle)."""
    settings = dict(model="dropout", epochs=3, batch_size=64, lr=0.05, scheduler="onecycle", seed=7,
                    augment={"rotate": 10, "shift": 0.05}, device="cpu",
                    checkpoint_dir=str(tmp_path) if tmp_path else "")
    config = RunConfig(**{**settings, **overrides})
    return build_model(config), config


def test_same_seed_same_numbers_on_the_cpu(small_mnist):
    runs = []
    for _ in range(2):
        model, config = configured(epochs=2)
        runs.append(fit(model, small_mnist, config, progress="none"))
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr"):
        assert getattr(runs[0], name) == getattr(runs[1], name)
    model, config = configured(epochs=2, seed=8)
    assert fit(model, small_mnist, config, progress="none").train_loss != runs[0].train_loss


def test_build_model_owns_the_initial_weights():
    first, _ = configured(seed=3)
    torch.manual_seed(12345)  # whatever the caller did to the global generator before
    again, _ = configured(seed=3)
    other, _ = configured(seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not torch.equal(first[0][0].weight, other[0][0].weight)


@pytest.mark.parametrize("recipe", [{}, {"ema_decay": 0.9, "clean_epochs": 1},
                                    {"ema_decay": 0.9, "clean_epochs": 1, "recalibrate_average": True}],
                         ids=["plain", "average+clean", "average+clean+recalibrated"])
def test_resume_continues_exactly_where_the_run_stopped(small_mnist, tmp_path, recipe):
    if recipe:  # rotated, so that the clean last epoch differs from the others
        small_mnist = dataclasses.replace(small_mnist, augment={"rotate": 10})
    straight_model, config = configured(**recipe)
    straight = fit(straight_model, small_mnist, config, progress="none")

    model, config = configured(tmp_path / "ckpt", **recipe)
    first_part = fit(model, small_mnist, config, stop_after_epoch=2, progress="none")
    assert len(first_part.test_acc) == 2
    fresh, config = configured(tmp_path / "ckpt", seed=7, **recipe)
    resumed = fit(fresh, small_mnist, config, resume_from=tmp_path / "ckpt" / "last.pt", progress="none")
    assert resumed.test_acc == straight.test_acc
    assert resumed.train_loss == straight.train_loss
    assert resumed.lr == straight.lr
    for name, value in straight_model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name


def test_a_resumed_run_counts_the_time_of_every_part_and_says_which_epochs_it_measured(small_mnist, tmp_path):
    model, config = configured(tmp_path)
    first_part = fit(model, small_mnist, config, stop_after_epoch=1, progress="none")  # without measuring
    fresh, config = configured(tmp_path)
    resumed = fit(fresh, small_mnist, config, resume_from=tmp_path / "last.pt", progress="none", measure_train=True)
    assert resumed.train_clean_acc[0] is None and all(0 <= acc <= 100 for acc in resumed.train_clean_acc[1:])
    assert len(resumed.train_clean_acc) == len(resumed.test_acc) == 3
    assert resumed.fit_seconds > first_part.fit_seconds and resumed.fit_seconds >= sum(resumed.epoch_seconds)


def test_clean_epochs_train_on_the_images_as_they_are(small_mnist):
    rotated = dataclasses.replace(small_mnist, augment={"rotate": 10})  # the data carries the augmentation

    def history(data=rotated, **overrides):
        model, config = configured(epochs=2, **overrides)
        return fit(model, data, config, progress="none")

    augmented, unaugmented = history(), history(small_mnist)
    assert augmented.train_loss[0] != unaugmented.train_loss[0]
    # every epoch clean: the run is the unaugmented one, number for number
    assert history(clean_epochs=2).train_loss == unaugmented.train_loss
    # the last epoch clean: the first epoch is the augmented run's, the second is not
    last_clean = history(clean_epochs=1)
    assert last_clean.train_loss[0] == augmented.train_loss[0]
    assert last_clean.train_loss[1] != augmented.train_loss[1]


def test_the_moving_average_is_what_fit_evaluates_saves_and_returns(small_mnist, tmp_path):
    model, config = configured(tmp_path, epochs=2, ema_decay=0.95)
    history = fit(model, small_mnist, config, progress="none")
    raw, raw_config = configured(epochs=2)
    raw_history = fit(raw, small_mnist, raw_config, progress="none")
    assert history.train_loss == raw_history.train_loss  # the average does not touch training
    assert history.test_acc != raw_history.test_acc
    # fit leaves the average in the model: it scores what the last epoch reported
    assert evaluate(model, small_mnist.test_images, small_mnist.test_labels)["acc"] == history.test_acc[-1]
    best = load_checkpoint(tmp_path / "best.pt")
    model.load_state_dict(best["model"])
    assert evaluate(model, small_mnist.test_images, small_mnist.test_labels)["acc"] == history.best_test_acc


def test_a_recalibrated_average_has_the_batchnorm_statistics_of_its_own_weights(small_mnist, tmp_path):
    model, config = configured(tmp_path, epochs=2, ema_decay=0.95, recalibrate_average=True)
    history = fit(model, small_mnist, config, progress="none")
    plain, plain_config = configured(epochs=2, ema_decay=0.95)
    plain_history = fit(plain, small_mnist, plain_config, progress="none")
    assert history.train_loss == plain_history.train_loss  # recalibration touches only the evaluated average
    assert history.test_acc != plain_history.test_acc
    # the first BatchNorm's statistics are those of the first conv's outputs over the (2,000 < 10,000) clean
    # training images, computed here from the returned weights
    first_conv, first_norm = model[0][0], model[0][1]
    with torch.inference_mode():
        outputs = first_conv(small_mnist.train_images)
    assert torch.allclose(first_norm.running_mean, outputs.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(first_norm.running_var, outputs.var((0, 2, 3)), rtol=1e-3)
    assert not torch.allclose(plain[0][1].running_mean, first_norm.running_mean, atol=1e-3)
    # what fit returns and what best.pt holds score what the epochs reported
    assert evaluate(model, small_mnist.test_images, small_mnist.test_labels)["acc"] == history.test_acc[-1]
    model.load_state_dict(load_checkpoint(tmp_path / "best.pt")["model"])
    assert evaluate(model, small_mnist.test_images, small_mnist.test_labels)["acc"] == history.best_test_acc


def test_checkpoints_hold_config_and_metrics_and_leave_no_partial_files(small_mnist, tmp_path):
    model, config = configured(tmp_path, epochs=2)
    history = fit(model, small_mnist, config, progress="none")
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["config"] == config.to_dict()
    assert best["metrics"]["test_acc"][best["metrics"]["epoch"] - 1] == history.best_test_acc
    model.load_state_dict(best["model"])
    assert evaluate(model, small_mnist.test_images, small_mnist.test_labels)["acc"] == history.best_test_acc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def test_resume_refuses_another_experiment_naming_the_fields_that_differ(small_mnist, tmp_path):
    model, config = configured(tmp_path, epochs=1)
    fit(model, small_mnist, config, progress="none")
    model, other = configured(tmp_path, epochs=1, lr=0.01, label_smoothing=0.1)
    with pytest.raises(CheckpointError) as refused:
        fit(model, small_mnist, other, resume_from=tmp_path / "last.pt", progress="none")
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'last.pt'} belongs to another experiment; it differs in ")
    assert message.endswith("it differs in label_smoothing: 0.1 here, 0.0 there; lr: 0.01 here, 0.05 there")


def test_adam_with_step_lr_decays_on_schedule_and_learns(small_mnist):
    untrained, config = configured(optimizer="adam", scheduler="step", step_size=1, gamma=0.5, lr=0.002,
                                   epochs=3, augment={})
    before = evaluate(untrained, small_mnist.test_images, small_mnist.test_labels)
    history = fit(untrained, small_mnist, config, progress="none")
    assert history.lr == pytest.approx([0.002, 0.001, 0.0005])
    assert history.train_loss == sorted(history.train_loss, reverse=True)  # every epoch lowers the loss
    assert history.test_loss[-1] < before["loss"] / 2 and history.test_acc[-1] > before["acc"] + 40


def test_progress_lines_are_one_per_epoch(small_mnist, capsys):
    model, config = configured(epochs=2)
    fit(model, small_mnist, config, progress="lines")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "test loss" in lines[0]


def test_target_needs_three_epochs_in_a_row_few_params_and_at_most_fifteen_epochs():
    good = [98.0] * 12 + [99.41, 99.40, 99.45]
    assert target_reached(good, 7999)
    assert not target_reached(good, 8000)
    assert not target_reached([98.0] * 12 + [99.6, 99.39, 99.5], 5000)  # one dip breaks it
    assert not target_reached([98.0] * 13 + [99.5, 99.5, 99.5], 5000)  # 16 epochs
    assert not target_reached([99.5, 99.5], 5000)
    assert first_epoch_at_target(good) == 13 and first_epoch_at_target([99.0]) is None
    assert History(test_acc=good).first_epoch_at_target == 13


def test_a_run_records_its_times(small_mnist):
    model, config = configured(epochs=2)
    history = fit(model, small_mnist, config, progress="none")
    assert len(history.eval_seconds) == len(history.epoch_seconds) == 2
    assert all(0 < tested < epoch for tested, epoch in zip(history.eval_seconds, history.epoch_seconds))
    assert history.fit_seconds >= sum(history.epoch_seconds)  # fit() also builds its optimizer, average, ...
    assert history.load_seconds == small_mnist.load_seconds > 0  # loading happened before fit(), apart


def test_every_epoch_draws_its_own_dropout_masks(small_mnist, monkeypatch):
    """fit seeds dropout per epoch from (seed, epoch): a resumed run draws what the uninterrupted one drew, and no
    two epochs share their masks."""
    seeded = []
    real = torch.manual_seed

    def recording(seed):
        seeded.append(seed)
        return real(seed)

    config = RunConfig(model="dropout", epochs=3, batch_size=500, device="cpu", seed=5)
    model = build_model(config)
    monkeypatch.setattr(torch, "manual_seed", recording)
    fit(model, dataclasses.replace(small_mnist), config, progress="none")
    dropout_seeds = [derived_seed(5, epoch, "dropout") for epoch in range(3)]
    assert [s for s in seeded if s in dropout_seeds] == dropout_seeds and len(set(dropout_seeds)) == 3


@pytest.mark.slow
def test_testing_only_the_last_epochs_changes_no_number_and_leaves_the_others_untested(small_mnist, tmp_path):
    """eval_last_epochs only skips tests: the tested epochs, the training and the model returned are the same as
    with a test after every epoch, the average's BatchNorm recomputation included."""
    every, every_config = configured(epochs=5, ema_decay=0.95, recalibrate_average=True)
    history = fit(every, small_mnist, every_config, progress="none", measure_train=True)
    last, last_config = configured(tmp_path, epochs=5, ema_decay=0.95, recalibrate_average=True, eval_last_epochs=3)
    skipped = fit(last, small_mnist, last_config, progress="none", measure_train=True)
    assert skipped.train_loss == history.train_loss and skipped.lr == history.lr
    assert skipped.test_acc == [None, None, *history.test_acc[2:]]
    assert skipped.test_loss == [None, None, *history.test_loss[2:]]
    assert skipped.train_clean_acc == [None, None, *history.train_clean_acc[2:]]
    assert all(s < 0.01 for s in skipped.eval_seconds[:2]) and all(s > 0.01 for s in skipped.eval_seconds[2:])
    assert all(torch.equal(a, b) for a, b in zip(last.state_dict().values(), every.state_dict().values()))
    assert skipped.best_test_acc == max(history.test_acc[2:])
    assert load_checkpoint(tmp_path / "best.pt")["metrics"]["epoch"] >= 3  # only a tested epoch can be the best
    assert target_reached(skipped.test_acc, 7000) == target_reached(history.test_acc, 7000)
    assert first_epoch_at_target([None, None, 99.1, 99.4, 99.5]) == 4
