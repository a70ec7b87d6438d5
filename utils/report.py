"""What a finished run hands over: its record, the Result lines a notebook prints, its files for the runner.

One record format for every kind of run (a notebook's, a seed of a sweep, an ablation variant, a bench run): the
full config, the per-epoch lists, the times, where it ran, which code and command made it. Other tools read the
records (results/*.json, chosen_on.json apart): keep the names. A run evaluated on the validation split
(config.split) keeps them too: its test_loss and test_acc are then the validation split's, and a search trial
stopped early has fewer epochs than its config's. `unknown` lists the fields of a record made before the field
existed, so that nothing is guessed: a top-level field's value is None, a config field ('config.model_args') is
absent.
"""
from pathlib import Path

from utils.checkpoint import load_checkpoint, save_checkpoint
from utils.config import RunConfig
from utils.files import sha256, write_json
from utils.metrics import (EPOCH_LIMIT, PARAM_LIMIT, TARGET_ACCURACY, TARGET_LAST_EPOCHS, first_epoch_at_target,
                           small_net_bar, target_reached)
from utils.models import build
from utils.project import METRICS_FILE, MODEL_FILE
from utils.provenance import machine, provenance

RECORD_FORMAT = 2  # 1: the records of before this format, some per kind of run (none is left in results/)
KINDS = ("notebook", "sweep", "ablation", "search", "bench", "teacher", "judge")  # what asked for the run
RECORD_FIELDS = ("format", "kind", "notebook", "variant", "model", "params", "epochs", "seed", "smoke", "device",
                 "cpu", "cpu_capability", "onednn_max_cpu_isa", "threads", "gpu", "cudnn", "tf32_conv", "torch",
                 "python", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "epoch_seconds", "eval_seconds",
                 "fit_seconds", "load_seconds", "train_clean_acc", "levers", "teacher", "best_test_acc",
                 "first_epoch_at_target", "target_reached", "config", "command", "code",
                 "unknown")  # and model_sha256 where a model was saved


def metrics_record(notebook, config, history, params, kind="notebook", variant=None):
    """The JSON-ready record of one run (accuracies in percent, epochs 1-based), with where it ran and what made it.

    notebook: whose recipe it trains (a stem, or None); variant: an ablation variant's id."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed: one of {list(KINDS)}")
    return {
        "format": RECORD_FORMAT,
        "kind": kind,
        "notebook": notebook,
        "variant": variant,
        "model": config.model,
        "params": params,
        "epochs": len(history.test_acc),
        "seed": config.seed,
        "smoke": config.smoke,
        "device": str(config.resolved_device),
        **machine(config.resolved_device),
        **history.as_lists(),
        "best_test_acc": history.best_test_acc,
        "first_epoch_at_target": first_epoch_at_target(history.test_acc),
        "target_reached": target_reached(history.test_acc, params),
        "config": config.to_dict(),
        **provenance(notebook),
        "unknown": [],
    }


def result_text(record, goal_bar=False, goal_params=PARAM_LIMIT, results_dir=None):
    """The Result section of a notebook, from the run's metrics record: this run's target, and with `goal_bar` the
    notebook's goal beside it, the bar for a small net with fewer than `goal_params` parameters (goal_text). One run
    can reach the target where the recipe misses the goal, or the other way round: each line says which it judges."""
    last = record["test_acc"][-TARGET_LAST_EPOCHS:]
    first = record["first_epoch_at_target"]
    verdict = "REACHED" if record["target_reached"] else "not reached"
    where = record["gpu"] or f"{record['cpu']}, {record['cpu_capability']}, {record['threads']} threads"
    return "\n".join([
        f"model {record['model']}: {record['params']:,} parameters, {record['epochs']} epochs, seed {record['seed']}, "
        f"{record['device']} ({where}){' (SMOKE RUN: numbers mean nothing)' if record['smoke'] else ''}",
        f"best test accuracy: {record['best_test_acc']:.2f} %, last epoch: {record['test_acc'][-1]:.2f} %",
        f"last {len(last)} epochs: {', '.join(f'{acc:.2f}' for acc in last)} %",
        f"first epoch at >= {TARGET_ACCURACY} %: {first if first else 'never'}",
        f"this run's target (>= {TARGET_ACCURACY} % in each of the last {TARGET_LAST_EPOCHS} of <= {EPOCH_LIMIT} "
        f"epochs, < {PARAM_LIMIT:,} parameters): {verdict}",
        *([goal_text(record["notebook"], goal_params, results_dir)] if goal_bar else []),
        f"mean epoch time: {sum(record['epoch_seconds']) / len(record['epoch_seconds']):.1f} s"
        + (f"; fit() {record['fit_seconds']:.1f} s in all, MNIST loaded in {record['load_seconds']:.1f} s before it"
           if record.get("fit_seconds") is not None else ""),
    ])


def goal_text(notebook, param_limit=PARAM_LIMIT, results_dir=None):
    """A notebook's goal judged: the bar for a small net (utils.metrics.small_net_bar) over its recipe's published
    seeds, results/<notebook>.seeds.json, whatever this run's knobs."""
    from utils.results import records_in, seeds_path  # loaded by the notebooks that judge a goal (06, 08)
    path = seeds_path(notebook, results_dir=results_dir)
    bar = small_net_bar(records_in(path), param_limit)
    return (f"the notebook's goal ({bar['rule']}), over the recipe's published seeds ({path.parent.name}/{path.name}):"
            f" {'REACHED' if bar['met'] else 'not reached'}: {bar['figures']}")


def gap_text(history):
    """The first and last epochs' training curve beside the evaluated model on clean training and on test images
    (fit(measure_train=True)): what explains a training curve below the test curve."""
    if len(history.train_clean_acc) != len(history.test_acc) or None in history.train_clean_acc:
        return "the evaluated model on clean training images was not measured in every epoch of this run"
    return "\n".join(f"epoch {epoch}: training curve {history.train_acc[epoch - 1]:.2f} %, evaluated model on clean "
                     f"training images {history.train_clean_acc[epoch - 1]:.2f} %, on test images "
                     f"{history.test_acc[epoch - 1]:.2f} %" for epoch in sorted({1, len(history.test_acc)}))


def save_run(output_dir, record, figures, model):
    """Write the final model (model.pt, its SHA-256 added to `record`), each figure as <name>.png and metrics.json
    into `output_dir`; nothing when it is empty."""
    if not output_dir:
        return
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model": model.state_dict(), "config": record["config"], "notebook": record["notebook"],
                     "test_acc": record["test_acc"][-1]}, folder / MODEL_FILE)
    record["model_sha256"] = sha256(folder / MODEL_FILE)
    for name, figure in figures.items():
        figure.savefig(folder / f"{name}.png", dpi=110, bbox_inches="tight")
    write_json(record, folder / METRICS_FILE)  # last: its presence says the run finished


def load_run_model(path, device="cpu"):
    """The model a run saved (model.pt, or results/<notebook>.pt once published) and its RunConfig, ready to
    evaluate: its test accuracy is the record's last-epoch one."""
    state = load_checkpoint(path, device, required=("model", "config"))
    config = RunConfig(**{**state["config"], "device": str(device)})
    model = build(config.model, **config.model_args).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), config
