"""Checkpoints written atomically: a crash mid-write leaves the previous checkpoint intact."""
import os
from pathlib import Path

import torch


def save_checkpoint(state, path):
    """torch.save to a temporary file beside `path`, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def load_checkpoint(path, device="cpu"):
    """Load a checkpoint written by save_checkpoint onto `device`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=device, weights_only=False)
