"""Files written whole or not at all: a reader (or a crash) sees the old file or the new one, never half of one.

Each write goes to a temporary file with a unique name beside the target, then one rename replaces the target, so
processes writing the same file at once cannot trip over each other's temporary files: the last rename wins.
A file that several commands add records to is changed with update_json, which holds a lock for the whole
read-change-write, so that no command's records are lost to another's write.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock


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


@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive lock tied to `path` (a hidden `.<name>.lock` beside it); other holders wait."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.parent / f".{path.name}.lock"):  # the operating system's lock: fcntl, or Windows' msvcrt
        yield


def update_json(path, change, default):
    """Replace the JSON in `path` by change(its data, or `default` when there is no file) under file_lock, and
    return the new data: commands that add to one file at once each see the others' additions."""
    with file_lock(path):
        data = change(read_json(path) if Path(path).is_file() else default)
        write_json(data, path)
    return data
