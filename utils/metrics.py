"""The target rule and the metrics record of a run (results/<notebook>.json); other tools read these names."""
import json
import os
from pathlib import Path

import torch

TARGET_ACCURACY = 99.40  # percent test accuracy ...
TARGET_LAST_EPOCHS = 3  # ... held in each of the last this-many epochs ...
EPOCH_LIMIT = 15  # ... of a run of at most this many epochs ...
PARAM_LIMIT = 8000  # ... by a model with fewer parameters than this


def first_epoch_at_target(test_acc):
    """1-based epoch of the first test accuracy >= the target, or None."""
    return next((epoch for epoch, acc in enumerate(test_acc, 1) if acc >= TARGET_ACCURACY), None)


def target_reached(test_acc, params, param_limit=PARAM_LIMIT):
    """True when each of the last 3 epochs of a <= 15-epoch run is >= 99.40 % with < `param_limit` parameters."""
    last = test_acc[-TARGET_LAST_EPOCHS:]
    return (TARGET_LAST_EPOCHS <= len(test_acc) <= EPOCH_LIMIT and params < param_limit
            and all(acc >= TARGET_ACCURACY for acc in last))


def metrics_record(notebook, config, history, params):
    """The JSON-ready record of one run (accuracies in percent, epochs 1-based)."""
    return {
        "notebook": notebook,
        "model": config.model,
        "params": params,
        "epochs": len(history.test_acc),
        "seed": config.seed,
        "smoke": config.smoke,
        "device": str(config.resolved_device),
        "torch": torch.__version__,
        **history.as_lists(),
        "best_test_acc": max(history.test_acc),
        "first_epoch_at_target": first_epoch_at_target(history.test_acc),
        "target_reached": target_reached(history.test_acc, params),
        "config": config.to_dict(),
    }


def write_json(data, path):
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(partial, path)


def read_json(path):
    return json.loads(Path(path).read_text())
