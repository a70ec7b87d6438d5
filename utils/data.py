"""MNIST as tensors on the training device, served as shuffled (and optionally augmented) batches by index.

The fast path loads the verified uint8 files once, normalises them once and keeps them on the device: a batch is
one gather, with no per-sample PIL work (the bench compares it with torchvision's DataLoader:
utils.lab.torchvision_data).
"""
import hashlib
import math
import time
from dataclasses import dataclass, field

import torch

from utils.augment import (adjust_photometric, check_augment, draw_affine, draw_elastic, draw_photometric,
                           is_identity, warp)
from utils.mnist import load_raw

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
BACKGROUND = (0.0 - MNIST_MEAN) / MNIST_STD  # a black pixel after normalisation
SMOKE_TRAIN_SAMPLES = 5000  # smoke runs: a few epochs on this many real training images ...
SMOKE_TEST_SAMPLES = 2000  # ... and this many test (or validation) images
VALIDATION_PER_CLASS = 1000  # the validation split: 1,000 training images of each digit, 10,000 in all
# SHA-256 of the validation split's indices (sorted, as comma-separated decimals): the split is fixed, and a change
# of its rule fails loudly instead of quietly judging runs on other images
VALIDATION_SPLIT_SHA256 = "95cac6cd35111733a39cd5bd2095cf8e75b047b1613fea540e396833bbf22df6"


def normalise(images_uint8):
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32, scaled to [0, 1] then standardised."""
    return ((images_uint8.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


@dataclass
class MnistData:
    """Normalised MNIST tensors on one device; images (N, 1, 28, 28) float32, labels (N,) int64."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    augment: dict = field(default_factory=dict)
    load_seconds: float = None  # what load_mnist took: verify, parse, normalise, move to the device

    def __post_init__(self):
        self.augment = check_augment(self.augment)

    @property
    def device(self):
        return self.train_images.device

    def steps_per_epoch(self, batch_size):
        return math.ceil(len(self.train_labels) / batch_size)

    def train_batches(self, batch_size, generator, augment=True):
        """One epoch of shuffled batches; order and warps come from `generator` (a CPU torch.Generator).

        augment=False serves the images as they are, whatever `self.augment` says (fit's clean epochs)."""
        count = len(self.train_labels)
        order = torch.randperm(count, generator=generator).to(self.device)
        theta = photometric = None
        if augment and not is_identity(self.augment):
            theta = draw_affine(count, self.augment, generator).to(self.device)  # one transfer per epoch
            photometric = draw_photometric(count, self.augment, generator)
            photometric = photometric and [factors.to(self.device) for factors in photometric]
        for start in range(0, count, batch_size):
            index = order[start:start + batch_size]
            images = self.train_images[index]
            if theta is not None:
                displacement = draw_elastic(len(index), *images.shape[-2:], self.augment, generator, self.device)
                images = warp(images, theta[start:start + batch_size], BACKGROUND, displacement)
            if photometric is not None:
                images = adjust_photometric(images, [f[start:start + batch_size] for f in photometric], MNIST_MEAN,
                                            MNIST_STD)
            yield images, self.train_labels[index]


def on_device(train, test, device, augment, started):
    """MnistData of (images, labels) uint8 pairs, normalised on `device`; load_seconds counted from `started`."""
    (train_x, train_y), (test_x, test_y) = train, test
    data = MnistData(normalise(train_x).to(device), train_y.long().to(device),
                     normalise(test_x).to(device), test_y.long().to(device), augment=augment or {})
    if data.device.type == "cuda":
        torch.cuda.synchronize()
    data.load_seconds = time.perf_counter() - started
    return data


def load_mnist(data_dir, device="cpu", augment=None, train_samples=None, test_samples=None, fetch=True):
    """Verified MNIST on `device`; `train_samples`/`test_samples` keep only the first N of each split."""
    started = time.perf_counter()
    raw = load_raw(data_dir, fetch=fetch)
    (train_x, train_y), (test_x, test_y) = raw["train"], raw["test"]
    return on_device((train_x[:train_samples], train_y[:train_samples]), (test_x[:test_samples], test_y[:test_samples]),
                     device, augment, started)


def validation_indices(train_labels):
    """The fixed validation split: of each digit, the 1,000 training images whose index has the smallest SHA-256.

    A rule of the indices alone (no random generator whose stream could change between versions), class-balanced,
    and spread over the whole file. Returns the sorted indices as a tensor."""
    chosen = []
    for digit in range(10):
        indices = torch.nonzero(train_labels == digit).flatten().tolist()
        indices.sort(key=lambda index: hashlib.sha256(str(index).encode()).digest())
        chosen += indices[:VALIDATION_PER_CLASS]
    chosen.sort()
    digest = hashlib.sha256(",".join(map(str, chosen)).encode()).hexdigest()
    if digest != VALIDATION_SPLIT_SHA256:
        raise RuntimeError(f"the validation split's indices have SHA-256 {digest}, expected {VALIDATION_SPLIT_SHA256}")
    return torch.tensor(chosen)


def load_validation_split(data_dir, device="cpu", augment=None, train_samples=None, test_samples=None, fetch=True):
    """MNIST's 60,000 training images split in two: the model trains on 50,000 and is evaluated on the held-out
    10,000 (validation_indices), served in MnistData's test_images/test_labels. The test files are not read."""
    started = time.perf_counter()
    images, labels = load_raw(data_dir, fetch=fetch, parts=("train",))["train"]
    held_out = torch.zeros(len(labels), dtype=torch.bool)
    held_out[validation_indices(labels)] = True
    return on_device((images[~held_out][:train_samples], labels[~held_out][:train_samples]),
                     (images[held_out][:test_samples], labels[held_out][:test_samples]), device, augment, started)


def mnist(config):
    """The data a RunConfig asks for: full MNIST, or a few thousand real samples in smoke mode; with
    config.split 'validation', the training images split in two (load_validation_split) and no test image."""
    train_samples, test_samples = (SMOKE_TRAIN_SAMPLES, SMOKE_TEST_SAMPLES) if config.smoke else (None, None)
    load = load_validation_split if config.split == "validation" else load_mnist
    return load(config.data_dir, config.resolved_device, config.augment, train_samples, test_samples)
