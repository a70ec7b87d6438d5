"""Figures of a run: loss and accuracy curves, misclassified and sample digits, augmented digits, the LR schedule.

Each function returns a matplotlib Figure: a notebook shows it, utils.report.save_run writes it as a PNG.
"""
import math

import matplotlib.pyplot as plt
import torch

from utils.data import MNIST_MEAN, MNIST_STD
from utils.metrics import TARGET_ACCURACY, min_last, spread
from utils.recipes import ingredient_value, taught_by


def plot_curves(history, title=""):
    """2x2 grid: train loss, test loss, train accuracy, test accuracy (with the 99.4 % line) per epoch.

    `history` is a History or a metrics record (anything with the four lists as attributes or keys). Where the
    run measured it (train_clean_acc), the train accuracy panel also shows the evaluated model on clean training
    images: the same model and images as clean as the test's, beside the training curve's. Epochs not tested
    (RunConfig.eval_last_epochs) have no test point: their None is drawn as a gap.
    """
    def get(name):
        values = (history.get(name) if isinstance(history, dict) else getattr(history, name)) or []
        return [float("nan") if value is None else value for value in values]

    epochs = range(1, len(get("test_acc")) + 1)
    figure, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for axis, name, label in ((axes[0, 0], "train_loss", "train loss"), (axes[0, 1], "test_loss", "test loss"),
                              (axes[1, 0], "train_acc", "train accuracy (%)"),
                              (axes[1, 1], "test_acc", "test accuracy (%)")):
        axis.plot(epochs, get(name), marker="o", markersize=3)
        axis.set_title(label)
        axis.grid(alpha=0.3)
    clean = get("train_clean_acc")
    if clean and len(clean) == len(epochs) and not any(map(math.isnan, clean)):  # measured in every epoch (a run
        # resumed from an unmeasured part, or one tested only in its last epochs, is not)
        axes[1, 0].lines[0].set_label("weights being trained, the epoch's training images")
        axes[1, 0].plot(epochs, clean, marker="s", markersize=3, label="evaluated model, clean training images")
        axes[1, 0].plot(epochs, get("test_acc"), linestyle=":", color="gray", label="evaluated model, test images")
        axes[1, 0].legend(loc="lower right", fontsize=8)
    axes[1, 1].axhline(TARGET_ACCURACY, color="red", linestyle="--", linewidth=1, label=f"{TARGET_ACCURACY} %")
    axes[1, 1].legend(loc="lower right")
    for axis in axes[1]:
        axis.set_xlabel("epoch")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _show_digit(axis, image):
    """One normalised image as its ink, dark on white."""
    axis.imshow((image.squeeze().cpu() * MNIST_STD + MNIST_MEAN).numpy(), cmap="gray_r", vmin=0, vmax=1)


def _digit_grid(images, captions, title, columns=10):
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.35), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, caption in zip(axes.flat, images, captions):
        _show_digit(axis, image)
        axis.set_title(caption, fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_misclassified(images, labels, predictions, limit=30):
    """The first `limit` test digits the model gets wrong, captioned 'true -> predicted'."""
    wrong = (predictions != labels).nonzero().flatten()[:limit].cpu()
    title = f"misclassified: {int((predictions != labels).sum())} of {len(labels)} (first {len(wrong)} shown)"
    return _digit_grid(images[wrong], [f"{int(labels[i])} -> {int(predictions[i])}" for i in wrong], title)


def plot_samples(images, labels, count=20):
    """The first `count` digits with their labels."""
    return _digit_grid(images[:count], [f"label {int(y)}" for y in labels[:count]], "sample training digits")


def plot_augmentation(data, count=10, seed=0):
    """`count` training digits as they are (top row) and as one augmented epoch serves them (bottom row)."""
    clean, labels = next(data.train_batches(count, torch.Generator().manual_seed(seed), augment=False))
    warped, _ = next(data.train_batches(count, torch.Generator().manual_seed(seed)))  # same order, then warps
    captions = [f"label {int(y)}" for y in labels] + ["augmented"] * count
    shown = ingredient_value("augment", {"augment": data.augment})
    return _digit_grid(torch.cat([clean, warped]), captions, f"training digits, augmented: {shown}", columns=count)


def plot_lr_schedule(rates, steps_per_epoch, title="learning rate per step"):
    """The learning rate of every step (utils.engine.lr_schedule), over epochs."""
    figure, axis = plt.subplots(figsize=(7, 2.6))
    axis.plot([step / steps_per_epoch for step in range(len(rates))], rates)
    axis.set_xlabel("epoch")
    axis.set_ylabel("learning rate")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def plot_seeds(recipes):
    """One strip of points per recipe: each seed's min of the last 3 epochs, with the 99.40 % line.

    recipes: {label: list of run records}, drawn top to bottom in the given order."""
    figure, axis = plt.subplots(figsize=(9, 0.8 + 0.7 * len(recipes)))
    for row, (label, records) in enumerate(reversed(list(recipes.items()))):
        values = [min_last(r["test_acc"]) for r in records]
        offsets = [((i % 5) - 2) * 0.06 for i in range(len(values))]  # spread equal values out a little
        axis.scatter(values, [row + o for o in offsets], s=28, alpha=0.8,
                     color=["tab:green" if r["target_reached"] else "tab:red" for r in records])
        summary = spread(records)
        axis.text(1.01, row, f"{summary['at_target']}/{summary['runs']}, mean {summary['mean']:.2f} %",
                  transform=axis.get_yaxis_transform(), va="center", fontsize=8)
    axis.axvline(TARGET_ACCURACY, color="red", linestyle="--", linewidth=1)
    taught = {title: taught_by(records[0]) for title, records in recipes.items()}
    labels = [f"{title} ({taught[title]})" if taught[title] else title for title in recipes]
    axis.set_yticks(range(len(recipes)), list(reversed(labels)), fontsize=8)
    axis.set_xlabel("min of the last 3 epochs' test accuracy (%), one point per seed; red: misses the target")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def plot_soft_targets(teacher, images, labels, temperature, count=6):
    """The first `count` digits beside the teacher's probabilities for each class: at temperature 1 (what it
    predicts) and at `temperature` (what a taught net learns from: the runner-up digits get visible weight)."""
    with torch.no_grad():
        logits = teacher.model(images[:count]).float().cpu()
    figure, axes = plt.subplots(2, count, figsize=(count * 1.9, 3.6), gridspec_kw={"height_ratios": [1, 1.2]})
    for column in range(count):
        _show_digit(axes[0, column], images[column])
        axes[0, column].set_title(f"label {int(labels[column])}", fontsize=8)
        axes[0, column].axis("off")
        axis = axes[1, column]
        for shift, scale, name in ((-0.2, 1.0, "T = 1"), (0.2, temperature, f"T = {temperature:g}")):
            axis.bar([digit + shift for digit in range(10)], torch.softmax(logits[column] / scale, 0), width=0.4,
                     label=name)
        axis.set_yscale("log")
        axis.set_ylim(1e-5, 1.5)
        axis.set_xticks(range(10))
        axis.tick_params(labelsize=6)
    axes[1, 0].set_ylabel("probability (log)", fontsize=8)
    axes[1, -1].legend(fontsize=7)
    figure.suptitle(f"the teacher's outputs ({teacher.info['model']}): its prediction (T = 1) and what the student "
                    f"learns from (T = {temperature:g})", fontsize=9)
    figure.tight_layout()
    return figure
