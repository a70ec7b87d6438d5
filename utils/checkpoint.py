"""Checkpoint files, written atomically and loaded as data only (weights_only: a checkpoint can never run code), and
resuming a run from them: what fit saves after every epoch (last.pt, and best.pt when the epoch is the best), loaded
back into the training state of the same experiment."""
import pickle
import zipfile
from pathlib import Path

import torch

from utils.files import atomic_write
from utils.models import count_parameters


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


def restore(path, config, model, optimizer, scheduler, average):
    """Load a last.pt of the same experiment into the training state; returns (its History's fields, epochs done)."""
    state = load_checkpoint(path, config.resolved_device,
                            required=("config", "model", "optimizer", "history", "epoch"))
    differences = config.differences(state["config"])
    if differences:
        raise CheckpointError(f"{path} belongs to another experiment; it differs in " + "; ".join(differences))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if average is not None:
        average.load_state_dict(state["average"])
    return state["history"], state["epoch"]


def last_checkpoint(config):
    """The last.pt in config.checkpoint_dir, where an earlier run of it stopped (or finished), else None."""
    path = Path(config.checkpoint_dir) / "last.pt" if config.checkpoint_dir else None
    return path if path is not None and path.is_file() else None


def save_training_state(model, optimizer, scheduler, average, evaluated, history, config, is_best):
    """last.pt (all fit needs to resume) and, when `is_best`, best.pt (the evaluated model, config, metrics)."""
    folder, epoch = Path(config.checkpoint_dir), len(history.test_acc)
    save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else None,
                     "average": average.state_dict() if average is not None else None,
                     "history": history.as_lists(), "epoch": epoch, "config": config.to_dict()}, folder / "last.pt")
    if is_best:  # best.pt holds the model that was evaluated: the average when there is one
        metrics = {"epoch": epoch, "params": count_parameters(evaluated), **history.as_lists()}
        save_checkpoint({"model": evaluated.state_dict(), "config": config.to_dict(), "metrics": metrics},
                        folder / "best.pt")
