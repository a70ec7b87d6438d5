"""Train the teacher of a taught net's search: a notebook's recipe on the validation split's 50,000 training images.

  python -m utils.lab.teacher [STEM] [--seed N]          (STEM: 05 by default)

A taught net (notebook 08) learns from a teacher's outputs as well as from the labels (utils.distill). Its search
ranks candidates on the validation split's 10,000 held-out images, so the teacher must not have seen them: this
command trains notebook STEM's recipe with split='validation' (the 50,000 other training images) and writes its model
to results/<STEM>.validation.pt and its record (kind 'teacher': the validation accuracy, the fit() time: what the
teacher cost) to results/<STEM>.validation.json. The judgement on the test set is taught by STEM's published model,
results/<STEM>.pt, trained on the 60,000 training images, none of them a test image.
"""
import argparse
import sys

from utils.config import RunConfig
from utils.lab.cli import ALLOW_DIRTY_HELP, RequestError, refuse_uncommitted, resolve
from utils.lab.publish import refresh_published
from utils.lab.store import publish_validation_run
from utils.lab.training import train
from utils.mnist import ensure_mnist
from utils.project import MODEL_FILE, ROOT, RUNS_DIR
from utils.provenance import announced, command_line
from utils.report import save_run
from utils.results import validation_model_path

TEACHER_SEED = 1  # the seed of the published runs


def train_teacher(stem, seed=TEACHER_SEED, data_dir=ROOT / "data", results_dir=None, log=print, **changes):
    """Train `stem`'s recipe on the validation split and publish its model and record; returns the record.
    changes: other RunConfig fields (a test's smoke run)."""
    config = RunConfig.from_recipe(stem, split="validation", seed=seed, data_dir=str(data_dir), **changes)
    ensure_mnist(data_dir)
    log(f"[{stem}] training on the validation split's 50,000 images, seed {seed}, on {config.resolved_device}")
    run = train(config, "teacher", notebook=stem, progress="lines")
    folder = RUNS_DIR / "teachers" / f"{stem}.validation.seed-{seed}"
    save_run(folder, run.record, {}, run.model)  # model.pt and its SHA-256 in the record
    publish_validation_run(stem, run.record, folder / MODEL_FILE, results_dir)
    if results_dir is None:
        refresh_published()  # the provenance table lists the new record
    log(f"[{stem}] validation accuracy of the last 3 epochs: {run.record['test_acc'][-3:]} %, fit() "
        f"{run.record['fit_seconds']:.0f} s -> {validation_model_path(stem, results_dir)}")
    return run.record


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.lab.teacher", description=__doc__.splitlines()[0])
    parser.add_argument("stem", nargs="?", default="05", help="the teacher's notebook (05 by default)")
    parser.add_argument("--seed", type=int, default=TEACHER_SEED)
    parser.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY_HELP)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        (stem,) = resolve([args.stem])
        refuse_uncommitted(args.allow_dirty)
    except RequestError as error:
        parser.exit(2, f"error: {error}\n")
    with announced(command_line(["utils.lab.teacher", *argv])):  # what the record names
        train_teacher(stem, args.seed)


if __name__ == "__main__":
    sys.exit(main())
