"""Run the notebook series headlessly: the command line.

  python -m utils.series list
  python -m utils.series run [NAMES...] [--smoke] [--seeds 0-9 | --seeds 0 3 7] [-p KEY VALUE]... [--no-publish]
                             [--address HOST:PORT] [--cpus-per-run N] [--gpus-per-run F]

Without --seeds each notebook is executed with papermill (utils.execute) into a folder of its own under runs/; a
full run that succeeds is published at once (utils.publish): the executed notebook replaces notebooks/<stem>.ipynb,
its record and model go to results/, its figures to readme_images/, and the README is rebuilt. With --seeds each
seed is one run of the notebook's recipe (utils.recipes, with the -p values) through utils.run.train, the same
steps the notebook shows, and each finished seed's record joins results/<stem>.seeds.json; run the same command
again and the seeds already there (the same experiment on the same kind of device) are skipped. Several runs go to
Ray (utils.scale), inside this command or on the cluster at --address; only this process writes files. Smoke runs
publish nothing.
"""
import argparse
import os
import sys

from utils.cli import RequestError, parse_seeds, parse_value, resolve
from utils.execute import CELL_TIMEOUT_SECONDS, NotebookRun, Outcome, collect, execute_run, notebook_parameters, \
    run_folder
from utils.project import HEADLESS_ENV, NOTEBOOKS_DIR, ROOT, notebook_stems
from utils.provenance import announce, command_line
from utils.publish import publish_notebook_run, publish_seed_run
from utils.scale import Pool, Resources, SchedulingError, add_arguments, resources_from
from utils.store import is_current, records_in, seeds_path

RUNNER_SETS = {"smoke": "use --smoke for a smoke run",
               "output_dir": "every run gets its own folder under runs/ (the run's log names it)"}


def check_overrides(stem, overrides, seeds):
    known = notebook_parameters(stem)
    for key in overrides:
        if key in RUNNER_SETS:
            raise RequestError(f"-p {key}: the runner sets {key} itself: {RUNNER_SETS[key]}")
        if key not in known:
            raise RequestError(f"-p {key}: {stem} has no parameter {key!r}; it has: {', '.join(known)}")
    if seeds and "seed" in overrides:
        raise RequestError("give the seed either with --seeds or with -p seed, not both")


def sweep_config(stem, seed, overrides, smoke, device, data_dir):
    """The RunConfig of one seed of a sweep: the notebook's recipe with the -p values, as its config cell builds it;
    a bad value is refused naming the parameter."""
    from utils.config import RunConfig

    try:
        return RunConfig.from_recipe(stem, **{**overrides, "seed": seed, "smoke": smoke, "device": device,
                                              "data_dir": data_dir})
    except ValueError as error:
        raise RequestError(f"{stem}: {error}") from None


def finished_seeds(stem, seeds, overrides, device, data_dir="data"):
    """{seed: record} of the seeds whose stored record is this sweep's run: same experiment, same kind of device."""
    stored = {r["seed"]: r for r in records_in(seeds_path(stem))}
    return {seed: stored[seed] for seed in seeds if seed in stored and is_current(
        stored[seed], sweep_config(stem, seed, overrides, False, "cpu", data_dir).to_dict(), device)}


def run_notebooks(stems, smoke, overrides, publish, cell_timeout, data_dir, log, resources):
    """Execute each notebook with papermill; publish each full run that succeeds."""
    mode = "smoke" if smoke else "full"
    outcomes = {}

    def finish(finished):
        outcome = collect(finished)
        outcomes[jobs.index(finished.job)] = outcome
        log(outcome.error or f"[{outcome.stem}] finished{f' on {finished.node}' if finished.node else ''}")
        if publish and not smoke and not outcome.error:
            publish_notebook_run(outcome)

    with Pool(resources, len(stems), log) as pool:
        if not pool.local:
            from utils.mnist import ensure_mnist

            ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch it
        # output_dir relative to notebooks/ (the kernel's working directory): a published notebook names no local path
        jobs = [NotebookRun(stem, {**overrides, "smoke": smoke,
                                   "output_dir": os.path.relpath(run_folder(mode, stem), NOTEBOOKS_DIR)},
                            cell_timeout, data_dir) for stem in stems]
        pool.run(execute_run, jobs, finish)
    return [outcomes[index] for index in sorted(outcomes)]


def run_seeds(stems, seeds, smoke, overrides, publish, data_dir, log, resources):
    """Train each (notebook recipe, seed) with utils.run; add each finished full run to its seeds file."""
    from utils.mnist import ensure_mnist
    from utils.run import Job, run_job

    for stem in stems:  # refuse a bad value before anything runs
        sweep_config(stem, seeds[0], overrides, smoke, "cpu", data_dir)
    outcomes = {}

    def finish(finished):
        stem, seed = finished.job.notebook, finished.job.config["seed"]
        outcome = Outcome(stem, seed, None, finished.result, finished.error and f"[{stem}] seed {seed} FAILED: "
                                                                                f"{finished.error}")
        outcomes[stem, seed] = outcome
        if outcome.error:
            log(outcome.error)
            return
        log(f"[{stem}] seed {seed} finished: min of the last 3 epochs {min(outcome.record['test_acc'][-3:]):.2f} %, "
            f"fit() {outcome.record['fit_seconds']:.0f} s{f' on {finished.node}' if finished.node else ''}")
        if publish and not smoke:
            publish_seed_run(stem, outcome.record, log)

    wanted = [(stem, seed) for stem in stems for seed in seeds]
    with Pool(resources, len(wanted), log) as pool:
        if publish and not smoke:
            done = {stem: finished_seeds(stem, seeds, overrides, pool.device, data_dir) for stem in stems}
            skipped = sum(len(found) for found in done.values())
            if skipped:
                log(f"{skipped} of {len(wanted)} runs are already in results/<notebook>.seeds.json: skipped")
            wanted = [(stem, seed) for stem, seed in wanted if seed not in done[stem]]
        ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch it
        jobs = [Job(sweep_config(stem, seed, overrides, smoke, overrides.get("device", pool.run_device),
                                 data_dir).to_dict(), "sweep", stem) for stem, seed in wanted]
        pool.run(run_job, jobs, finish)
    return [outcomes[key] for key in [(stem, seed) for stem in stems for seed in seeds] if key in outcomes]


def run(names=(), smoke=False, seeds=None, overrides=None, publish=True, cell_timeout=CELL_TIMEOUT_SECONDS,
        log=print, resources=None):
    """Execute the chosen notebooks, or train their recipes over `seeds`; returns the Outcomes in the order asked
    for. resources: utils.scale.Resources (--address, --cpus-per-run, --gpus-per-run); several runs go to Ray."""
    overrides = dict(overrides or {})
    if isinstance(overrides.get("data_dir"), str):  # the caller's relative path, not one inside notebooks/
        overrides["data_dir"] = os.path.abspath(overrides["data_dir"])
    stems = resolve(names)
    for stem in stems:  # refuse a bad request before anything runs
        check_overrides(stem, overrides, seeds)
    resources = (resources or Resources()).check()
    announce()  # the command line main() stated, else this process's own: the records name it
    os.environ[HEADLESS_ENV] = "1"  # kernels inherit it: one printed line per epoch, no live bar
    data_dir = str(overrides.pop("data_dir", ROOT / "data"))
    if seeds:
        return run_seeds(stems, seeds, smoke, overrides, publish, data_dir, log, resources)
    return run_notebooks(stems, smoke, {**overrides, "data_dir": data_dir}, publish, cell_timeout, data_dir, log,
                         resources)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m utils.series", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the notebooks and their parameters")
    runner = commands.add_parser("run", help="execute notebooks with papermill")
    runner.add_argument("names", nargs="*", help="notebooks to run (e.g. 05 or 05_garam_masala); default: all")
    runner.add_argument("--smoke", action="store_true", help="1 epoch on a few thousand samples; publishes nothing")
    runner.add_argument("--seeds", nargs="+", metavar="SEEDS",
                        help="run once per seed, e.g. 0-9 or 0 3 7; publishes results/<stem>.seeds.json")
    runner.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override a notebook parameter (repeatable)")
    runner.add_argument("--no-publish", action="store_true", help="leave notebooks/, results/ and README alone")
    runner.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT_SECONDS, help="seconds per cell")
    add_arguments(runner)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # notebook output streams through: show it as it comes
    try:
        if args.command == "list":
            for stem in notebook_stems():
                print(f"{stem}: " + ", ".join(f"{k}={v}" for k, v in notebook_parameters(stem).items()))
            return 0
        seeds = parse_seeds(args.seeds) if args.seeds else None
        announce(command_line(["utils.series", *argv]))
        outcomes = run(args.names, args.smoke, seeds, {k: parse_value(v) for k, v in args.p},
                       not args.no_publish, args.cell_timeout, resources=resources_from(args))
    except (RequestError, SchedulingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every finished run is kept (runs/, and results/ for full runs); run the same command "
              "to do the rest", file=sys.stderr)
        return 130
    failed = [o for o in outcomes if o.error]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} runs succeeded")
    for outcome in failed:
        print(outcome.error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
