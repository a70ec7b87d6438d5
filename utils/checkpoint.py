"""Checkpoint files: written atomically, loaded as data only (weights_only: a checkpoint can never run code)."""
import pickle
import zipfile
from pathlib import Path

import torch

from utils.files import atomic_write


class CheckpointError(ValueError):
    """A checkpoint file that is missing, damaged, not a checkpoint, or from another experiment; names the file."""


def save_checkpoint(state, path):
    """torch.save to a temporary file beside `path`, then rename over it: a crash leaves the old one whole."""
    atomic_write(path, lambda file: torch.save(state, file))


def load_checkpoint(path, device="cpu", required=()):
    """The dict saved by save_checkpoint at `path`, on `device`; CheckpointError names the file and what is wrong
    (missing, empty, truncated, not a torch checkpoint, holding code, or lacking one of the `required` keys)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory, not a checkpoint file") from None
    except pickle.UnpicklingError as error:  # weights_only refuses anything but tensors and plain data
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in lines if "GLOBAL" in line or line.startswith("Unsupported")),
                      lines[0] if lines else "")  # torch's own words for what it met; they vary by version
        if "GLOBAL" in detail.upper():
            raise CheckpointError(f"{path} is not a plain checkpoint (refused to load it: it refers to code, which "
                                  f"loading would run): {detail}") from None
        raise CheckpointError(f"{path} is damaged or not a torch checkpoint: {detail}") from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, ValueError) as error:
        size = path.stat().st_size if path.exists() else "?"
        raise CheckpointError(f"{path} is damaged or not a torch checkpoint ({size} bytes): "
                              f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a checkpoint dict")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}: not a checkpoint of the kind expected here")
    return state
