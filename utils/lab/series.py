"""Run the notebook series headlessly: the command line.

  python -m utils.lab.series list
  python -m utils.lab.series run [NAMES...] [--smoke] [--seeds 0-9 | --seeds 0 3 7] [-p KEY VALUE]... [--no-publish]
                                 [--address HOST:PORT] [--cpus-per-run N] [--gpus-per-run F]

Without --seeds each notebook is executed with papermill (utils.lab.execute) into a folder of its own under runs/; a
full run that succeeds is published at once (utils.lab.publish): the executed notebook replaces notebooks/<stem>.ipynb,
its record and model go to results/, its figures to readme_images/, and the README is rebuilt. With --seeds each
seed is one run of the notebook's recipe (utils.recipes, with the -p values) through utils.lab.training.train, the same
steps the notebook shows, and each finished seed's record joins results/<stem>.seeds.json; run the same command
again and the seeds already there (the same experiment on the same kind of device) are skipped. Several runs go to
Ray (utils.lab.scale), inside this command or on the cluster at --address; only this process writes files. Smoke runs
publish nothing.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

from utils.lab.cli import ALLOW_DIRTY_HELP, RequestError, parse_seeds, parse_value, refuse_uncommitted, resolve
from utils.lab.execute import CELL_TIMEOUT_SECONDS, NotebookJob, collect, execute_job, notebook_parameters, run_folder
from utils.lab.publish import publish_notebook_run
from utils.lab.scale import Pool, Resources, SchedulingError, add_arguments, resources_from
from utils.lab.sweep import recipe_config, run_seeds
from utils.metrics import min_last
from utils.project import HEADLESS_ENV, NOTEBOOKS_DIR, ROOT, RUNS_DIR, environment_variable, notebook_stems
from utils.provenance import announced, command_line

RUNNER_SETS = {"smoke": "use --smoke for a smoke run",
               "output_dir": "every run gets its own folder under runs/ (the run's log names it)",
               "checkpoint_dir": "use --resume (a folder per notebook and parameters under runs/checkpoints/)"}


def check_overrides(stem, overrides, seeds):
    known = notebook_parameters(stem)
    for key in overrides:
        if key in RUNNER_SETS:
            raise RequestError(f"-p {key}: the runner sets {key} itself: {RUNNER_SETS[key]}")
        if key not in known:
            raise RequestError(f"-p {key}: {stem} has no parameter {key!r}; it has: {', '.join(known)}")
    if seeds and "seed" in overrides:
        raise RequestError("give the seed either with --seeds or with -p seed, not both")


def checkpoint_folder(mode, stem, overrides):
    """Where `--resume` keeps a notebook run's last.pt: runs/checkpoints/<mode>/<stem>/<hash of the -p values>, so
    that the same command finds it again and another one does not take it for its own."""
    key = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return RUNS_DIR / "checkpoints" / mode / stem / key


def run_notebooks(stems, smoke, overrides, publish, cell_timeout, data_dir, log, resources, resume=False):
    """Execute each notebook with papermill; publish each full run that succeeds. resume: the run keeps a
    checkpoint after every epoch and, started again after a stop, continues after the last finished one."""
    mode = "smoke" if smoke else "full"
    outcomes = {}

    def finish(finished):
        outcome = collect(finished)
        outcomes[jobs.index(finished.job)] = outcome
        if outcome.error:
            log(outcome.error)
            return
        log(f"[{outcome.stem}] finished{f' on {finished.node}' if finished.node else ''}: "
            f"min of the last 3 epochs {min_last(outcome.record['test_acc']):.2f} %, "
            f"fit() {outcome.record['fit_seconds']:.0f} s")
        if publish and not smoke:
            publish_notebook_run(outcome)
        if resume:  # done: a later --resume must train anew, not take this run's last epoch for its own
            shutil.rmtree(checkpoint_folder(mode, outcome.stem, overrides), ignore_errors=True)

    with Pool(resources, len(stems), log) as pool:
        if not pool.local:
            from utils.mnist import ensure_mnist

            ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch it
        # output_dir relative to notebooks/ (the kernel's working directory): a published notebook names no local path
        jobs = [NotebookJob(stem, {**overrides, "smoke": smoke,
                                   "output_dir": os.path.relpath(run_folder(mode, stem), NOTEBOOKS_DIR),
                                   **({"checkpoint_dir": os.path.relpath(checkpoint_folder(mode, stem, overrides),
                                                                         NOTEBOOKS_DIR)} if resume else {})},
                            cell_timeout, data_dir) for stem in stems]
        pool.map(execute_job, jobs, finish)
    return [outcomes[index] for index in sorted(outcomes)]


def run_series(names=(), smoke=False, seeds=None, overrides=None, publish=True, cell_timeout=CELL_TIMEOUT_SECONDS,
               log=print, resources=None, command=None, resume=False, allow_dirty=True):
    """Execute the chosen notebooks, or train their recipes over `seeds`; returns their outcomes (execute.Outcome,
    sweep.SeedOutcome) in the order asked for. resources: utils.lab.scale.Resources (--address, --cpus-per-run,
    --gpus-per-run); several runs go to Ray. command: what the records name (default: this process's command).
    resume: one notebook's run continues from its checkpoint after a stop (run_notebooks). allow_dirty: False
    refuses to write records from uncommitted code (the command line, without --allow-dirty)."""
    overrides = dict(overrides or {})
    if isinstance(overrides.get("data_dir"), str):  # the caller's relative path, not one inside notebooks/
        overrides["data_dir"] = os.path.abspath(overrides["data_dir"])
    stems = resolve(names)
    for stem in stems:  # refuse a bad request before anything runs
        check_overrides(stem, overrides, seeds)
        recipe_config(stem, overrides, smoke=smoke, device="cpu")  # the device is checked where the run happens
    if resume and seeds:
        raise RequestError("--resume is for a notebook run: a sweep resumes seed by seed by itself")
    resources = (resources or Resources()).check()
    if resume and (len(stems) > 1 or resources.address):
        raise RequestError("--resume resumes one notebook run on this machine; several (or --address) run on Ray, "
                           "whose workers keep no folder from one command to the next")
    if publish and not smoke:  # what writes records: a full run published, or a sweep's seeds
        refuse_uncommitted(allow_dirty)
    data_dir = str(overrides.get("data_dir", ROOT / "data"))
    # kernels started meanwhile print one line per epoch instead of a live bar
    with announced(command), environment_variable(HEADLESS_ENV, "1"):
        if seeds:
            return run_seeds(stems, seeds, smoke, {k: v for k, v in overrides.items() if k != "data_dir"}, publish,
                             data_dir, log, resources)
        return run_notebooks(stems, smoke, overrides, publish, cell_timeout, data_dir, log, resources, resume)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m utils.lab.series", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the notebooks and their parameters")
    runner = commands.add_parser("run", help="execute notebooks with papermill")
    runner.add_argument("names", nargs="*", help="notebooks to run (e.g. 05 or 05_garam_masala); default: all")
    runner.add_argument("--smoke", action="store_true",
                        help="at most 3 epochs on a few thousand samples; publishes nothing")
    runner.add_argument("--seeds", nargs="+", metavar="SEEDS",
                        help="run once per seed, e.g. 0-9 or 0 3 7; publishes results/<stem>.seeds.json")
    runner.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override a notebook parameter (repeatable)")
    runner.add_argument("--no-publish", action="store_true", help="leave notebooks/, results/ and README alone")
    runner.add_argument("--resume", action="store_true",
                        help="one notebook: keep a checkpoint after every epoch in runs/checkpoints/; the same command "
                             "after a stop continues after the last finished epoch (same numbers)")
    runner.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT_SECONDS, help="seconds per cell")
    runner.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY_HELP)
    add_arguments(runner)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # notebook output streams through: show it as it comes
    try:
        if args.command == "list":
            for stem in notebook_stems():
                print(f"{stem}: " + ", ".join(f"{k}={v}" for k, v in notebook_parameters(stem).items()))
            return 0
        seeds = parse_seeds(args.seeds) if args.seeds else None
        outcomes = run_series(args.names, args.smoke, seeds, {k: parse_value(v) for k, v in args.p},
                              not args.no_publish, args.cell_timeout, resources=resources_from(args),
                              command=command_line(["utils.lab.series", *argv]), resume=args.resume,
                              allow_dirty=args.allow_dirty)
    except (RequestError, SchedulingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every finished run is kept (a notebook's in runs/; a full run's, and a sweep's seeds, "
              "in results/); run the same command to do the rest", file=sys.stderr)
        return 130
    failed = [o for o in outcomes if o.error]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} runs succeeded")
    for outcome in failed:
        print(outcome.error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
