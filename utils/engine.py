"""The training loop, once: build_model, train_epoch, evaluate, fit -> History, with checkpoints (utils.checkpoint).

config.seed has one owner here: build_model draws the initial weights from it, and fit derives each epoch's
randomness (batch order, augmentation, dropout) from (seed, epoch), so a run resumed after epoch k continues
exactly as the uninterrupted run would have.
"""
import hashlib
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn
from tqdm.std import tqdm

from utils.levers import training_forward
from utils.metrics import first_epoch_at_target
from utils.models import build
from utils.project import HEADLESS_ENV
from utils.checkpoint import restore, save_training_state

PROGRESS_REFRESH_SECONDS = 1.0  # live bar updates at most this often, so saved outputs stay small
RECALIBRATION_IMAGES = 10_000  # the first N clean training images set the average's BatchNorm statistics


def derived_seed(seed, *keys):
    """A 63-bit seed from the run seed and any keys (epoch, stream name): stable across runs and machines."""
    text = "/".join(str(part) for part in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def seed_everything(seed):
    """Seed Python, NumPy and torch (all devices) with one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(config):
    """A fresh model as `config` says, on its device, with initial weights drawn from config.seed."""
    seed_everything(config.seed)
    return build(config.model, **config.model_args).to(config.resolved_device)


@dataclass
class History:
    """Per-epoch metrics (accuracies in percent) and the run's times."""

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)  # training and test
    eval_seconds: list = field(default_factory=list)  # of which the test (the average's BatchNorm recomputation and,
    # with fit(measure_train=True), the clean training images' measurement included)
    fit_seconds: float = None  # wall time of fit(); of all its parts when it was resumed (an interrupted epoch's aside)
    load_seconds: float = None  # what loading its MnistData into memory took, outside fit()
    train_clean_acc: list = field(default_factory=list)  # fit(measure_train=True): the evaluated model on clean
    # training images (the first RECALIBRATION_IMAGES), beside its test accuracy; empty when not measured, None for
    # the epochs before a resume that were not measured
    levers: dict = None  # what the run used of the levers its config asks for (utils.levers.Levers, as a dict):
    # precision, compiled, and a note for each it went without
    teacher: dict = None  # the teacher the run learned from (utils.distill.Teacher.info: its file, SHA-256, model,
    # parameters, split, epochs); None: the labels alone

    def add_epoch(self, train, test, clean, lr, started, test_started, levers, measure_train=False):
        """One epoch's metrics: its training and test results (test None: not evaluated, config.eval_last_epochs),
        the clean training accuracy where measured, the LR it started at, its time from `started` (and the test's
        from `test_started`) to now, and the levers it used (after the epoch: a compile that failed in it fell back)."""
        ended = time.perf_counter()
        test = test or {"loss": None, "acc": None}
        for name, value in (("train_loss", train["loss"]), ("train_acc", train["acc"]), ("test_loss", test["loss"]),
                            ("test_acc", test["acc"]), ("lr", lr), ("epoch_seconds", ended - started),
                            ("eval_seconds", ended - test_started)):
            getattr(self, name).append(value)
        if measure_train:
            self.train_clean_acc.append(clean)
        self.levers = asdict(levers)

    def as_lists(self):
        return asdict(self)

    @property
    def best_test_acc(self):
        return max((acc for acc in self.test_acc if acc is not None), default=None)

    @property
    def first_epoch_at_target(self):
        return first_epoch_at_target(self.test_acc)


def make_optimizer(model, config, **overrides):
    """SGD (with momentum) or Adam as `config` says; `overrides` go to the optimizer (the bench tries variants)."""
    # foreach: one multi-tensor update instead of a loop over parameters; the same numbers, faster on the CPU
    options = {"foreach": True, "weight_decay": config.weight_decay, **overrides}
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, **options)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, **options)


def make_scheduler(optimizer, config, steps_per_epoch):
    """(scheduler or None, whether it steps every batch)."""
    if config.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, epochs=config.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=config.pct_start), True
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma), False
    if config.scheduler == "piecewise":  # each epoch at its start's point on the line through config.lr_points
        epochs, shares = zip(*config.lr_points)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: float(np.interp(epoch, epochs, shares))), \
            False
    return None, False


def lr_schedule(config, steps_per_epoch):
    """The learning rate of every training step of a run of `config` (per step, as the scheduler sets it)."""
    optimizer = make_optimizer(torch.nn.Linear(1, 1), config)
    scheduler, per_batch = make_scheduler(optimizer, config, steps_per_epoch)
    rates = []
    for _ in range(config.epochs):
        for _ in range(steps_per_epoch):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()  # no gradients: the weights stay; the scheduler wants a step before its own
            if per_batch:
                scheduler.step()
        if scheduler is not None and not per_batch:
            scheduler.step()
    return rates


def make_average(model, config):
    """The moving average of `model` that fit evaluates when config.ema_decay > 0, else None.

    BatchNorm's running statistics are averaged too (use_buffers), so the average is a complete model."""
    if not config.ema_decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)


def recalibrate_batchnorm(model, images, batch_size=500):
    """Recompute every BatchNorm's running statistics of `model` for its own weights, over the first
    RECALIBRATION_IMAGES of `images` (torch's update_bn, as SWA does it).

    Averaged statistics belong to the recent weights, not to their average, and while the weights still move fast
    the two disagree: an early average evaluated with averaged statistics can score far below the same weights with
    their own."""
    count = min(len(images), RECALIBRATION_IMAGES)
    update_bn((images[start:start + batch_size] for start in range(0, count, batch_size)), model)


def is_evaluated(config, epoch):
    """Whether fit tests the model after `epoch` (0-based): every epoch, or only the last config.eval_last_epochs.
    Skipping a test changes no number: the test and the BatchNorm recomputation before it draw no random numbers
    and leave the weights as they are (the recomputation starts from scratch each time)."""
    return not config.eval_last_epochs or epoch >= config.epochs - config.eval_last_epochs


def labels_loss(images, logits, labels, label_smoothing=0.0):
    """The loss of a batch learned from its labels alone: cross-entropy (towards 1 - label_smoothing)."""
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


def make_loss(config, earlier_teacher=None):
    """(loss_of(images, logits, labels), the teacher's info for History.teacher or None): the labels' cross-entropy,
    or with config.teacher the distillation loss beside the teacher's outputs on the same batch (utils.distill; a
    bad teacher file, or another one than a resumed run's first part learned from, stops the run here)."""
    if not config.teacher:
        return partial(labels_loss, label_smoothing=config.label_smoothing), None
    from utils.distill import taught_loss  # loaded by the runs that learn from a teacher

    return taught_loss(config, earlier_teacher)


def train_epoch(model, forward, batches, optimizer, loss_of, *, scheduler=None, average=None, autocast_dtype=None,
                progress=None):
    """One pass over `batches`: each batch's logits by `forward` (the model, or a compiled or CUDA-graphed forward of
    it: utils.levers.training_forward), its loss by `loss_of(images, logits, labels)`, one optimizer step; then
    `scheduler` steps and `average` takes the new weights, where given. autocast_dtype: the forward and the loss
    under torch.autocast in this dtype (bfloat16); the weights, their gradients and the update stay float32.
    Returns {'loss', 'acc'}: the loss as trained on."""
    model.train()
    loss_sum = correct = count = 0  # kept as device tensors: no host sync per batch
    device_type = next(model.parameters()).device.type
    for images, labels in batches:
        with torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = forward(images)
            loss = loss_of(images, logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if average is not None:
            average.update_parameters(model)
        loss_sum = loss_sum + loss.detach() * len(labels)
        correct = correct + (logits.argmax(1) == labels).sum()
        count += len(labels)
        if progress is not None:
            progress.update()
    return {"loss": float(loss_sum) / count, "acc": 100.0 * float(correct) / count}


def logits_of(model, images, copies=()):
    """The model's logits for `images`; with copies, the log of its softmax averaged over each image and its copies
    (utils.tta), which cross_entropy and argmax read as logits."""
    if not copies:
        return model(images)
    from utils.tta import averaged_log_probabilities  # loaded by the runs that average over copies

    return averaged_log_probabilities(model, images, copies)


@torch.inference_mode()
def evaluate(model, images, labels, batch_size=500, copies=()):
    """Mean loss and accuracy (percent) over a whole split. copies: each image's prediction averaged with these
    shifted or turned copies' (utils.tta). Returns {'loss', 'acc'}."""
    model.eval()
    loss_sum = correct = 0
    for start in range(0, len(labels), batch_size):
        logits = logits_of(model, images[start:start + batch_size], copies)
        target = labels[start:start + batch_size]
        loss_sum = loss_sum + F.cross_entropy(logits, target, reduction="sum")
        correct = correct + (logits.argmax(1) == target).sum()
    return {"loss": float(loss_sum) / len(labels), "acc": 100.0 * float(correct) / len(labels)}


@torch.inference_mode()
def predict(model, images, batch_size=500, copies=()):
    """Predicted class of every image, as a tensor on the images' device (averaged over `copies` as evaluate)."""
    model.eval()
    return torch.cat([logits_of(model, images[s:s + batch_size], copies).argmax(1)
                      for s in range(0, len(images), batch_size)])


class EpochProgress:
    """How fit shows an epoch: 'bar' (a live tqdm bar, kept as one line), 'lines' (one printed line) or 'none'."""

    def __init__(self, style, epochs, steps):
        style = style or ("lines" if os.environ.get(HEADLESS_ENV) else "bar")
        if style not in ("bar", "lines", "none"):
            raise ValueError(f"progress={style!r} is not allowed: 'bar', 'lines', 'none' or None (auto)")
        self.style, self.epochs, self.steps, self.bar = style, epochs, steps, None

    def start(self, epoch):
        """The bar to update once per batch (None unless the style is 'bar')."""
        if self.style == "bar":
            self.bar = tqdm(total=self.steps, desc=f"epoch {epoch + 1:2d}/{self.epochs}", unit="batch",
                            file=sys.stdout, mininterval=PROGRESS_REFRESH_SECONDS, leave=True, ncols=120)
        return self.bar

    def end(self, epoch, lr, train, test, seconds):
        tested = f"test loss {test['loss']:.4f} acc {test['acc']:.2f}%" if test else "not tested (eval_last_epochs)"
        summary = f"lr {lr:.4f} | train loss {train['loss']:.4f} acc {train['acc']:.2f}% | {tested}"
        if self.bar is not None:
            self.bar.set_postfix_str(summary, refresh=False)
            self.bar.close()
            self.bar = None
        elif self.style == "lines":
            print(f"epoch {epoch + 1:2d}/{self.epochs} | {summary} | {seconds:.1f} s", flush=True)


def start_or_resume(resume_from, config, model, optimizer, scheduler, average, data, measure_train):
    """(History, first epoch): a fresh History at epoch 0, or a last.pt's training state and History, continued
    after its epoch (utils.checkpoint)."""
    if resume_from is None:
        return History(load_seconds=data.load_seconds), 0
    saved, epochs_done = restore(resume_from, config, model, optimizer, scheduler, average)
    history = History(**saved)
    if measure_train:  # epochs an earlier part trained without measuring: unknown, and said so
        history.train_clean_acc += [None] * (epochs_done - len(history.train_clean_acc))
    return history, epochs_done


def epoch_batches(data, config, epoch):
    """The training batches of `epoch` (0-based): their order and augmentation, and dropout's randomness, drawn from
    (seed, epoch), so that a run resumed after any epoch goes on as the uninterrupted one; the last
    config.clean_epochs unaugmented."""
    torch.manual_seed(derived_seed(config.seed, epoch, "dropout"))
    generator = torch.Generator().manual_seed(derived_seed(config.seed, epoch, "data"))
    return data.train_batches(config.batch_size, generator, augment=epoch < config.epochs - config.clean_epochs)


def evaluate_after_epoch(evaluated, data, config, measure_train):
    """(test metrics, accuracy on clean training images or None) of the evaluated model after an epoch, its
    BatchNorm statistics recomputed first with config.recalibrate_average; the clean training images (the first
    RECALIBRATION_IMAGES) are measured with measure_train."""
    if config.recalibrate_average:
        recalibrate_batchnorm(evaluated, data.train_images, config.eval_batch_size)
    test = evaluate(evaluated, data.test_images, data.test_labels, config.eval_batch_size, config.test_time_augment)
    if not measure_train:
        return test, None
    count = min(len(data.train_labels), RECALIBRATION_IMAGES)
    return test, evaluate(evaluated, data.train_images[:count], data.train_labels[:count], config.eval_batch_size,
                          config.test_time_augment)["acc"]


def fit(model, data, config, resume_from=None, stop_after_epoch=None, progress=None, measure_train=False,
        on_epoch=None):
    """Train `model` on `data` as `config` says; returns the History of all epochs.

    resume_from: a last.pt written by an earlier fit of the same experiment; training continues after its epoch.
    stop_after_epoch: return after this epoch (1-based), as an interrupted run would; resume later.
    measure_train: also evaluate, each epoch, the evaluated model on clean training images (history.train_clean_acc):
    what the training curve, made by the weights being trained on the epoch's augmented images, is compared with.
    progress: 'bar', 'lines', 'none', or None: 'lines' when the runner set TINY_MNIST_HEADLESS, else 'bar'.
    on_epoch: called with the History after every epoch (a search reports each epoch to its scheduler with it).
    With config.ema_decay > 0 the test metrics and checkpoints are those of the weights' moving average (its
    BatchNorm statistics recomputed first with config.recalibrate_average), and fit leaves that average in `model`.
    On CUDA (with config.cuda_graphs, in float32, uncompiled) full training batches run through CUDA graphs
    (utils.levers). The levers config.precision and config.compile_model apply where the machine has them
    (utils.levers; history.levers says what the run used); the test always runs in float32, uncompiled.
    With config.teacher the model learns from the teacher's outputs beside the labels (utils.distill; a bad teacher
    file stops fit before the first epoch, and history.teacher names the file); with config.test_time_augment every
    test averages each image's prediction over its copies (utils.tta), in the test's time.
    """
    fit_started = time.perf_counter()  # warm-up and CUDA-graph capture count; loading MNIST does not
    model.to(config.resolved_device)
    steps = data.steps_per_epoch(config.batch_size)
    optimizer = make_optimizer(model, config)
    scheduler, per_batch = make_scheduler(optimizer, config, steps)
    average = make_average(model, config)
    history, first_epoch = start_or_resume(resume_from, config, model, optimizer, scheduler, average, data,
                                           measure_train)
    shown, earlier = EpochProgress(progress, config.epochs, steps), history.fit_seconds or 0.0
    loss_of, history.teacher = make_loss(config, history.teacher)  # before any epoch: a bad teacher stops it here
    forward, levers = training_forward(model, config, data, history.levers)  # after the resume and the average
    try:
        for epoch in range(first_epoch, min(config.epochs, stop_after_epoch or config.epochs)):
            started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            train = train_epoch(model, forward, epoch_batches(data, config, epoch), optimizer, loss_of,
                                scheduler=scheduler if per_batch else None, average=average,
                                autocast_dtype=levers.autocast_dtype, progress=shown.start(epoch))
            if scheduler is not None and not per_batch:
                scheduler.step()
            evaluated, test_started = model if average is None else average.module, time.perf_counter()
            test, clean = evaluate_after_epoch(evaluated, data, config, measure_train) if is_evaluated(config, epoch) \
                else (None, None)
            is_best = test is not None and test["acc"] > (history.best_test_acc or -1.0)
            history.add_epoch(train, test, clean, lr, started, test_started, levers, measure_train)
            shown.end(epoch, lr, train, test, history.epoch_seconds[-1])
            history.fit_seconds = earlier + time.perf_counter() - fit_started  # so far: a resumed run adds to it
            if config.checkpoint_dir:
                save_training_state(model, optimizer, scheduler, average, evaluated, history, config, is_best)
            if on_epoch is not None:
                on_epoch(history)
    finally:
        forward.release()
    if average is not None:
        model.load_state_dict(average.module.state_dict())
    if config.resolved_device.type == "cuda":
        torch.cuda.synchronize()
    history.fit_seconds, history.load_seconds = earlier + time.perf_counter() - fit_started, data.load_seconds
    return history
