"""Resuming a run: what fit saves after every epoch (last.pt, and best.pt when the epoch is the best), and loading
it back into the training state of the same experiment."""
from pathlib import Path

from utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from utils.models import count_parameters


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
