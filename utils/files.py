"""Files written whole or not at all: a reader (or a crash) sees the old file or the new one, never half of one.

Each write goes to a temporary file with a unique name beside the target, then one rename replaces the target, so
processes writing the same file at once cannot trip over each other's temporary files: the last rename wins.
"""
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def atomic_write(path, write):
    """Call write(binary file) on a fresh temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def sha256(path):
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_copy(source, target):
    """Copy `source` to `target` atomically."""
    with open(source, "rb") as original:
        atomic_write(target, lambda file: shutil.copyfileobj(original, file))


def write_json(data, path):
    """Write JSON atomically."""
    atomic_write(path, lambda file: file.write((json.dumps(data, indent=1) + "\n").encode()))


def read_json(path):
    return json.loads(Path(path).read_text())
