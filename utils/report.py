"""What a finished run hands over: the Result lines a notebook prints, and its files for the runner to publish."""
from pathlib import Path

from utils.metrics import EPOCH_LIMIT, PARAM_LIMIT, TARGET_ACCURACY, TARGET_LAST_EPOCHS, write_json

METRICS_FILE = "metrics.json"


def result_text(record):
    """The Result section of a notebook, from the run's metrics record."""
    last = record["test_acc"][-TARGET_LAST_EPOCHS:]
    first = record["first_epoch_at_target"]
    verdict = "REACHED" if record["target_reached"] else "not reached"
    return "\n".join([
        f"model {record['model']}: {record['params']:,} parameters, {record['epochs']} epochs, seed {record['seed']}, "
        f"{record['device']}{' (SMOKE RUN: numbers mean nothing)' if record['smoke'] else ''}",
        f"best test accuracy: {record['best_test_acc']:.2f} %, last epoch: {record['test_acc'][-1]:.2f} %",
        f"last {len(last)} epochs: {', '.join(f'{acc:.2f}' for acc in last)} %",
        f"first epoch at >= {TARGET_ACCURACY} %: {first if first else 'never'}",
        f"target (>= {TARGET_ACCURACY} % in each of the last {TARGET_LAST_EPOCHS} of <= {EPOCH_LIMIT} epochs, "
        f"< {PARAM_LIMIT:,} parameters): {verdict}",
        f"mean epoch time: {sum(record['epoch_seconds']) / len(record['epoch_seconds']):.1f} s",
    ])


def save_run(output_dir, record, figures):
    """Write metrics.json and each figure as <name>.png into `output_dir` (nothing when it is empty)."""
    if not output_dir:
        return
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        figure.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
    write_json(record, folder / METRICS_FILE)  # last: its presence says the run finished
