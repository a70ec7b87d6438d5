"""Run the notebook series headlessly with papermill, collect metrics, publish full runs.

  python -m utils.series list
  python -m utils.series run [NAMES...] [--smoke] [--seeds 0-9 | --seeds 0 3 7] [-p KEY VALUE]... [--no-publish]
                             [--address HOST:PORT] [--cpus-per-run N] [--gpus-per-run F]

One execution runs here; several (notebooks, seeds) run as Ray tasks (utils.scale), inside this command or on the
cluster at --address, and only this process writes files: each execution's notebook, metrics, model and figures
land in a folder of their own under runs/ (runs/<mode>/<stem>/[seed-<seed>-]<time>-<pid>/) as it finishes. A full
single-seed run that succeeds is published at once: the executed notebook replaces notebooks/<stem>.ipynb, its
metrics go to results/<stem>.json, its figures to readme_images/, and the README tables are rebuilt, each file
atomically and one publisher at a time. A --seeds run adds each finished seed's record to
results/<stem>.seeds.json as it ends; run the same command again and the seeds already there (same experiment,
same kind of device) are skipped. Smoke runs publish nothing.
"""
import argparse
import ast
import contextlib
import fcntl
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils.files import atomic_copy, atomic_write, read_json, update_json, write_json
from utils.project import (HEADLESS_ENV, IMAGES_DIR, METRICS_FILE, MODEL_FILE, NOTEBOOKS_DIR, RESULTS_DIR, ROOT,
                           RUNS_DIR, notebook_stems)
from utils.readme import refresh_readme
from utils.scale import Pool, Resources, SchedulingError, add_arguments, link_data_folder, resources_from

CELL_TIMEOUT_SECONDS = 3600  # one cell; a full 15-epoch run on a slow CPU stays well inside
FIGURES = ("curves", "misclassified")  # PNGs a notebook saves into its output_dir


class SeriesError(Exception):
    """A request the runner refuses before running anything."""


@dataclass
class Outcome:
    stem: str
    seed: object
    notebook: Path  # the executed (or partly executed) notebook in runs/
    record: dict = None  # the run's metrics; None when it failed
    error: str = ""


def resolve(names):
    """Stems for names given as '05', '05_garam_masala' or 'garam_masala'; all notebooks when none."""
    stems = notebook_stems()
    if not names:
        return stems
    chosen = []
    for name in names:
        matches = [s for s in stems if name in (s, s[:2], s[3:])]
        if len(matches) != 1:
            raise SeriesError(f"unknown notebook {name!r}; known: {', '.join(stems)}")
        chosen.append(matches[0])
    return chosen


def notebook_parameters(stem):
    """{name: default} of the notebook's cell tagged 'parameters'."""
    import papermill

    found = papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{stem}.ipynb"))
    if not found:
        raise SeriesError(f"{stem}.ipynb has no cell tagged 'parameters'")
    return {name: info["default"] for name, info in found.items()}


def parse_value(text):
    """A -p value as a Python literal (15, 0.01, True, 'cpu'); anything else stays a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_seeds(texts):
    """Seeds from '0-9' (a range, both ends included), '3' or several of them: [0, 1, ..., 9]."""
    seeds = []
    for text in texts:
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
        if not match or (match[2] is not None and int(match[2]) < int(match[1])):
            raise SeriesError(f"--seeds {text!r}: give seeds as N or as a range LOW-HIGH (e.g. 0-9)")
        seeds += range(int(match[1]), int(match[2] or match[1]) + 1)
    if len(set(seeds)) != len(seeds):
        raise SeriesError(f"--seeds {' '.join(texts)}: a seed is given twice")
    return seeds


def check_overrides(stem, overrides, seeds):
    known = notebook_parameters(stem)
    for key in overrides:
        if key == "smoke":
            raise SeriesError("-p smoke: the runner sets smoke itself (use --smoke for a smoke run)")
        if key == "output_dir":
            raise SeriesError("-p output_dir: the runner sets output_dir itself: every run gets its own folder "
                              "under runs/ (the run's log names it)")
        if key not in known:
            raise SeriesError(f"-p {key}: {stem} has no parameter {key!r}; it has: {', '.join(known)}")
    if seeds and "seed" in overrides:
        raise SeriesError("give the seed either with --seeds or with -p seed, not both")


def execute(stem, parameters, out_dir, cell_timeout, log):
    """Run one notebook with papermill into out_dir; returns an Outcome (failures are caught, not raised)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_file = out_dir / METRICS_FILE
    notebook = out_dir / f"{stem}.ipynb"
    outcome = Outcome(stem, parameters.get("seed"), notebook)
    shown = os.path.relpath(notebook, ROOT)  # the same path in the driver's checkout and a worker's copy
    started = time.perf_counter()
    log(f"[{stem}] running with {parameters} -> {notebook}")
    try:
        papermill.execute_notebook(str(NOTEBOOKS_DIR / f"{stem}.ipynb"), str(notebook), parameters=parameters,
                                   kernel_name="python3", cwd=str(NOTEBOOKS_DIR), execution_timeout=cell_timeout,
                                   progress_bar=False, log_output=True, stdout_file=sys.stdout,
                                   stderr_file=sys.stderr)
    except PapermillExecutionError as error:
        source = error.source.strip().splitlines()
        outcome.error = (f"[{stem}] FAILED in cell {error.cell_index} (execution count {error.exec_count}, "
                         f"starting {source[0] if source else ''!r}): {error.ename}: {error.evalue}\n"
                         f"  partly executed notebook kept at {shown}")
    except Exception as error:  # kernel death, cell timeout, a missing kernel: name it the same way
        outcome.error = f"[{stem}] FAILED: {type(error).__name__}: {error}\n  notebook kept at {shown}"
    else:
        if metrics_file.is_file():
            outcome.record = read_json(metrics_file)
        else:
            outcome.error = f"[{stem}] FAILED: the notebook finished but wrote no {METRICS_FILE} into {out_dir}"
    log(outcome.error or f"[{stem}] done in {time.perf_counter() - started:.0f} s")
    return outcome


@contextlib.contextmanager
def publish_lock():
    """One publisher at a time: runners that finish together publish one after the other, never interleaved."""
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUNS_DIR / ".publish.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run_folder(mode, stem, seed=None):
    """A new, empty folder for one execution: runs/<mode>/<stem>/[seed-<seed>-]<time>-<pid>[-<n>]."""
    name = f"{'' if seed is None else f'seed-{seed}-'}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    parent = RUNS_DIR / mode / stem
    parent.mkdir(parents=True, exist_ok=True)
    for number in range(1000):
        folder = parent / (name if number == 0 else f"{name}-{number}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise SeriesError(f"could not make a new run folder in {parent}")


def publish_single(outcome):
    """Make a successful full run the committed one: model, notebook, metrics, figures."""
    out_dir = outcome.notebook.parent
    atomic_copy(out_dir / MODEL_FILE, RESULTS_DIR / f"{outcome.stem}.pt")  # the record holds its SHA-256
    atomic_copy(outcome.notebook, NOTEBOOKS_DIR / f"{outcome.stem}.ipynb")
    write_json(outcome.record, RESULTS_DIR / f"{outcome.stem}.json")
    for name in FIGURES:
        if (out_dir / f"{name}.png").is_file():
            atomic_copy(out_dir / f"{name}.png", IMAGES_DIR / f"{outcome.stem}_{name}.png")


@dataclass
class NotebookRun:
    """One execution as a worker receives it."""

    stem: str
    parameters: dict  # papermill's, output_dir included (relative to notebooks/: the same in every copy)
    cell_timeout: int
    data_dir: str  # the driver's MNIST folder; a worker that cannot see it fetches MNIST into its own


def execute_run(job):
    """Execute one notebook in this process's copy of the project; returns its record, error and files (bytes)."""
    link_data_folder(job.data_dir)
    out_dir = (NOTEBOOKS_DIR / job.parameters["output_dir"]).resolve()
    outcome = execute(job.stem, job.parameters, out_dir, job.cell_timeout, print)
    files = {path.name: path.read_bytes() for path in out_dir.iterdir() if path.is_file()}
    return {"record": outcome.record, "error": outcome.error, "files": files}


def store(finished):
    """The Outcome of a finished execution, its files written into its run folder here (a worker's copy is gone)."""
    job = finished.job
    out_dir = (NOTEBOOKS_DIR / job.parameters["output_dir"]).resolve()
    outcome = Outcome(job.stem, job.parameters.get("seed"), out_dir / f"{job.stem}.ipynb")
    if finished.error:  # the worker died, or the run raised outside papermill
        outcome.error = f"[{job.stem}] FAILED: {finished.error}"
        return outcome
    for name, data in finished.result["files"].items():
        if not (out_dir / name).is_file():  # a run made here wrote them itself
            atomic_write(out_dir / name, lambda file, data=data: file.write(data))
    outcome.record, outcome.error = finished.result["record"], finished.result["error"]
    return outcome


def seeds_path(stem):
    return RESULTS_DIR / f"{stem}.seeds.json"


def expected_experiment(stem, parameters):
    """The experiment a run of `stem` with these papermill parameters trains (what its config cell builds)."""
    from dataclasses import fields

    from utils.config import RunConfig

    defaults = {name: parse_value(text) for name, text in notebook_parameters(stem).items()}  # source text
    knobs = {**defaults, **parameters}
    config_knobs = {k: v for k, v in knobs.items() if k in {f.name for f in fields(RunConfig)}}
    # the device decides no number (experiment() leaves it out), and this machine may lack the one asked for
    return RunConfig.from_recipe(stem, **{**config_knobs, "device": "cpu"}).experiment()


def record_experiment(record):
    """The experiment of a stored record; None when today's code cannot read its config."""
    from utils.config import RunConfig

    try:
        return RunConfig(**{**record["config"], "device": "cpu"}).experiment()
    except (KeyError, TypeError, ValueError):
        return None


def device_kind(record):
    return str(record.get("device", "cpu")).split(":")[0]


def finished_seeds(stem, seeds, overrides, device):
    """{seed: record} of the seeds whose stored record is this sweep's run: same experiment, same kind of device."""
    path = seeds_path(stem)
    stored = read_json(path) if path.is_file() else []
    return {r["seed"]: r for r in stored if r.get("seed") in seeds and device_kind(r) == device
            and record_experiment(r) == expected_experiment(stem, {**overrides, "seed": r["seed"]})}


def recipe_of(record):
    """What a seeds record's run trained, but for its seed: equal for every seed of one sweep."""
    experiment = record_experiment(record) or {}
    return {key: value for key, value in experiment.items() if key != "seed"}, device_kind(record)


def add_seed_record(stem, record, log):
    """Put one finished seed's record into results/<stem>.seeds.json. The file is one table: records of another
    recipe or another kind of device go (git keeps the old file), and so does an older run of the same seed."""
    path = seeds_path(stem)

    def add(stored):
        same = [r for r in stored if recipe_of(r) == recipe_of(record)]
        if len(same) < len(stored):
            log(f"[{stem}] {path.name}: {len(stored) - len(same)} records of another recipe or kind of device "
                f"replaced by this sweep's (one table holds one recipe on one kind of device)")
        kept = [r for r in same if r["seed"] != record["seed"]]
        return sorted(kept + [record], key=lambda r: r["seed"])

    update_json(path, add, default=[])


def run(names=(), smoke=False, seeds=None, overrides=None, publish=True, cell_timeout=CELL_TIMEOUT_SECONDS,
        log=print, resources=None):
    """Execute the chosen notebooks (each seed when `seeds`); returns the Outcomes, in the order asked for.

    resources: utils.scale.Resources (--address, --cpus-per-run, --gpus-per-run); several executions go to Ray."""
    overrides = dict(overrides or {})
    if isinstance(overrides.get("data_dir"), str):  # the caller's relative path, not one inside notebooks/
        overrides["data_dir"] = os.path.abspath(overrides["data_dir"])
    stems = resolve(names)
    for stem in stems:  # refuse a bad request before anything runs
        check_overrides(stem, overrides, seeds)
    resources = (resources or Resources()).check()
    os.environ[HEADLESS_ENV] = "1"  # kernels inherit it: one printed line per epoch, no live bar
    mode = "smoke" if smoke else "full"
    data_dir = str(overrides.get("data_dir", ROOT / "data"))
    order = [(stem, seed) for stem in stems for seed in seeds or [None]]
    wanted = list(order)  # less the seeds already stored, below
    outcomes = []

    def finish(finished):
        outcome = store(finished)
        outcomes.append(outcome)
        log(outcome.error or f"[{outcome.stem}]{'' if outcome.seed is None else f' seed {outcome.seed}'} "
                             f"finished{f' on {finished.node}' if finished.node else ''}")
        if smoke or not publish or outcome.error:
            return
        with publish_lock():
            if seeds:
                add_seed_record(outcome.stem, outcome.record, log)
            else:
                publish_single(outcome)
            refresh_readme()

    with Pool(resources, len(wanted), log) as pool:
        if seeds and publish and not smoke:
            done = {stem: finished_seeds(stem, seeds, overrides, pool.device) for stem in stems}
            skipped = sum(len(found) for found in done.values())
            if skipped:
                log(f"{skipped} of {len(wanted)} runs are already in results/<notebook>.seeds.json: skipped")
            wanted = [(stem, seed) for stem, seed in wanted if seed not in done[stem]]
        if len(wanted) > 1 or not pool.local:
            from utils.mnist import ensure_mnist

            ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch it
        jobs = []
        for stem, seed in wanted:
            parameters = {**overrides, "smoke": smoke}
            if seed is not None:
                parameters["seed"] = seed
            # relative to notebooks/ (the kernel's working directory): a published notebook names no local path
            parameters["output_dir"] = os.path.relpath(run_folder(mode, stem, seed), NOTEBOOKS_DIR)
            jobs.append(NotebookRun(stem, parameters, cell_timeout, data_dir))
        pool.run(execute_run, jobs, finish)
    return sorted(outcomes, key=lambda outcome: order.index((outcome.stem, outcome.seed)))


def main(argv=None):
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
        outcomes = run(args.names, args.smoke, seeds, {k: parse_value(v) for k, v in args.p},
                       not args.no_publish, args.cell_timeout, resources=resources_from(args))
    except (SeriesError, SchedulingError) as error:
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
