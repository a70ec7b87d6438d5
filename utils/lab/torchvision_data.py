"""MNIST through torchvision's datasets and DataLoader, with per-sample PIL transforms: the classic path, which the
bench times utils.data's on-device batches against. Same verified files, same normalisation.
"""
import torch

from utils.augment import check_augment, is_identity
from utils.data import MNIST_MEAN, MNIST_STD
from utils.mnist import load_raw


def torchvision_transform(augment=None):
    """The per-sample torchvision pipeline: [RandomAffine] -> ToTensor -> Normalize, utils.data's constants."""
    from torchvision import transforms

    steps = []
    opts = check_augment(augment)
    on_device_only = [key for key in ("elastic", "share", "brightness", "contrast") if opts.get(key)]
    if on_device_only:
        raise ValueError(f"augment: {', '.join(on_device_only)}: applied on the device only (MnistData."
                         "train_batches); the torchvision comparison path has rotation, shift and scale")
    if not is_identity(opts):
        steps.append(transforms.RandomAffine(
            degrees=opts["rotate"], translate=(opts["shift"], opts["shift"]) if opts["shift"] else None,
            scale=(1 - opts["scale"], 1 + opts["scale"]) if opts["scale"] else None, fill=0))
    steps += [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    return transforms.Compose(steps)


def torchvision_datasets(data_dir, augment=None, fetch=True):
    """torchvision's MNIST datasets over the same verified files: (train, test)."""
    from torchvision import datasets

    load_raw(data_dir, fetch=fetch)  # verify (and fetch) first: torchvision only checks that the files exist
    train = datasets.MNIST(str(data_dir), train=True, download=False, transform=torchvision_transform(augment))
    test = datasets.MNIST(str(data_dir), train=False, download=False, transform=torchvision_transform())
    return train, test


def torchvision_loaders(data_dir, batch_size, augment=None, num_workers=0, seed=0, test_batch_size=1000,
                        pin_memory=False):
    """The classic path: DataLoaders with per-sample PIL transforms, for comparison with the fast path.
    pin_memory: page-locked batches, as GPU tutorials set it, so that the copy to the GPU can overlap."""
    train, test = torchvision_datasets(data_dir, augment)
    generator = torch.Generator().manual_seed(seed)
    return (torch.utils.data.DataLoader(train, batch_size, shuffle=True, num_workers=num_workers,
                                        generator=generator, persistent_workers=num_workers > 0,
                                        pin_memory=pin_memory),
            torch.utils.data.DataLoader(test, test_batch_size, num_workers=num_workers, pin_memory=pin_memory))
