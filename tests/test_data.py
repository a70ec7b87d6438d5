"""MNIST as tensors on the device (utils.data): the fast path against torchvision's, seeded batches, augmented
batches that keep their labels."""
import torch

from utils.data import load_mnist
from utils.lab.torchvision_data import torchvision_datasets


def test_fast_path_equals_torchvision_for_the_same_indices(mnist_dir):
    data = load_mnist(mnist_dir)
    train, test = torchvision_datasets(mnist_dir)
    generator = torch.Generator().manual_seed(0)
    for index in torch.randint(0, 60000, (64,), generator=generator).tolist():
        image, label = train[index]
        assert torch.allclose(data.train_images[index], image, atol=1e-6)
        assert data.train_labels[index].item() == label
    for index in (0, 1234, 9999):
        image, label = test[index]
        assert torch.allclose(data.test_images[index], image, atol=1e-6)
        assert data.test_labels[index].item() == label
    # A served batch is the same gather: its order is the randperm of the same seeded generator.
    images, labels = next(data.train_batches(32, torch.Generator().manual_seed(5)))
    order = torch.randperm(60000, generator=torch.Generator().manual_seed(5))[:32].tolist()
    assert torch.allclose(images, torch.stack([train[i][0] for i in order]), atol=1e-6)
    assert labels.tolist() == [train[i][1] for i in order]


def test_an_epoch_visits_every_sample_once_in_a_seeded_order(small_mnist):
    def epoch(seed):
        batches = list(small_mnist.train_batches(128, torch.Generator().manual_seed(seed)))
        return torch.cat([labels for _, labels in batches]), batches

    labels, batches = epoch(3)
    assert len(batches) == small_mnist.steps_per_epoch(128) == 16
    assert torch.equal(labels.sort().values, small_mnist.train_labels.sort().values)
    assert torch.equal(labels, epoch(3)[0])
    assert not torch.equal(labels, epoch(4)[0])


def test_augmented_batches_differ_but_keep_labels_and_are_seeded(mnist_dir):
    data = load_mnist(mnist_dir, train_samples=256, test_samples=10, augment={"rotate": 10, "shift": 0.1})
    plain = load_mnist(mnist_dir, train_samples=256, test_samples=10)
    (a, la), = list(data.train_batches(256, torch.Generator().manual_seed(1)))
    (b, lb), = list(plain.train_batches(256, torch.Generator().manual_seed(1)))
    (c, _), = list(data.train_batches(256, torch.Generator().manual_seed(1)))
    assert torch.equal(la, lb) and torch.equal(a, c)
    assert not torch.allclose(a, b, atol=1e-3)
    assert a.shape == b.shape


def test_elastic_batches_keep_labels_and_leave_runs_without_it_as_they_were(mnist_dir):
    def batch(augment):  # the second of two: elastic noise is drawn batch by batch, after the epoch's warps
        data = load_mnist(mnist_dir, train_samples=256, test_samples=10, augment=augment)
        _, (images, labels) = list(data.train_batches(128, torch.Generator().manual_seed(1)))
        return images, labels

    rotated, labels = batch({"rotate": 7})
    elastic, elastic_labels = batch({"rotate": 7, "elastic": 34})
    assert torch.equal(labels, elastic_labels) and torch.equal(elastic, batch({"rotate": 7, "elastic": 34})[0])
    assert 0.05 < float((elastic - rotated).abs().mean()) < 0.5  # moved, but the digits are still where they were
    assert torch.equal(batch({"rotate": 7, "elastic": 0})[0], rotated)  # off: the same random stream, same images
