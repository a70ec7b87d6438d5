"""Run the notebook series headlessly with papermill, collect metrics, publish full runs.

  python -m utils.series list
  python -m utils.series run [NAMES...] [--smoke] [--seeds S...] [-p KEY VALUE]... [--no-publish]

Every execution lands in runs/ first. A full single-seed run that succeeds is published: the executed notebook
replaces notebooks/<stem>.ipynb, its metrics go to results/<stem>.json, its figures to readme_images/, and the
README tables are rebuilt. --seeds runs publish results/<stem>.seeds.json only. Smoke runs publish nothing.
"""
import argparse
import ast
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils.engine import HEADLESS_ENV
from utils.metrics import read_json, write_json
from utils.project import IMAGES_DIR, NOTEBOOKS_DIR, RESULTS_DIR, RUNS_DIR
from utils.readme import refresh_readme
from utils.report import METRICS_FILE

RUNNER_PARAMETERS = ("smoke", "output_dir")  # set by the runner itself, never by -p
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


def notebook_stems():
    """Stems of the numbered notebooks, in story order."""
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


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


def check_overrides(stem, overrides, seeds):
    known = notebook_parameters(stem)
    for key in overrides:
        if key in RUNNER_PARAMETERS:
            raise SeriesError(f"-p {key}: the runner sets {key} itself (use --smoke for a smoke run)")
        if key not in known:
            raise SeriesError(f"-p {key}: {stem} has no parameter {key!r}; it has: {', '.join(known)}")
    if seeds and "seed" in overrides:
        raise SeriesError("give the seed either with --seeds or with -p seed, not both")


def execute(stem, parameters, out_dir, cell_timeout, log):
    """Run one notebook with papermill into out_dir; returns an Outcome (failures are caught, not raised)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    stale = out_dir / METRICS_FILE
    stale.unlink(missing_ok=True)  # only this execution's metrics may be found afterwards
    notebook = out_dir / f"{stem}.ipynb"
    outcome = Outcome(stem, parameters.get("seed"), notebook)
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
                         f"  partly executed notebook kept at {notebook}")
    except Exception as error:  # kernel death, cell timeout, a missing kernel: name it the same way
        outcome.error = f"[{stem}] FAILED: {type(error).__name__}: {error}\n  notebook kept at {notebook}"
    else:
        if stale.is_file():
            outcome.record = read_json(stale)
        else:
            outcome.error = f"[{stem}] FAILED: the notebook finished but wrote no {METRICS_FILE} into {out_dir}"
    log(outcome.error or f"[{stem}] done in {time.perf_counter() - started:.0f} s")
    return outcome


def publish_single(outcome):
    """Make a successful full run the committed one: notebook, metrics, figures."""
    out_dir = outcome.notebook.parent
    shutil.copyfile(outcome.notebook, NOTEBOOKS_DIR / f"{outcome.stem}.ipynb")
    write_json(outcome.record, RESULTS_DIR / f"{outcome.stem}.json")
    for name in FIGURES:
        if (out_dir / f"{name}.png").is_file():
            IMAGES_DIR.mkdir(exist_ok=True)
            shutil.copyfile(out_dir / f"{name}.png", IMAGES_DIR / f"{outcome.stem}_{name}.png")


def run(names=(), smoke=False, seeds=None, overrides=None, publish=True, cell_timeout=CELL_TIMEOUT_SECONDS,
        log=print):
    """Execute the chosen notebooks (each seed when `seeds`); returns the list of Outcomes."""
    overrides = dict(overrides or {})
    stems = resolve(names)
    for stem in stems:  # refuse a bad request before anything runs
        check_overrides(stem, overrides, seeds)
    os.environ[HEADLESS_ENV] = "1"  # kernels inherit it: one printed line per epoch, no live bar
    mode = "smoke" if smoke else "full"
    outcomes = []
    for stem in stems:
        runs = []
        for seed in seeds or [None]:
            parameters = {**overrides, "smoke": smoke}
            out_dir = RUNS_DIR / mode / stem
            if seed is not None:
                parameters["seed"], out_dir = seed, out_dir / f"seed-{seed}"
            # relative to notebooks/ (the kernel's working directory): a published notebook names no local path
            parameters["output_dir"] = os.path.relpath(out_dir, NOTEBOOKS_DIR)
            runs.append(execute(stem, parameters, out_dir, cell_timeout, log))
        outcomes += runs
        if smoke or not publish or any(r.error for r in runs):
            continue
        if seeds:
            write_json([r.record for r in runs], RESULTS_DIR / f"{stem}.seeds.json")
        else:
            publish_single(runs[0])
    if publish and not smoke and any(o.record for o in outcomes):
        refresh_readme()
    return outcomes


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.series", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the notebooks and their parameters")
    runner = commands.add_parser("run", help="execute notebooks with papermill")
    runner.add_argument("names", nargs="*", help="notebooks to run (e.g. 05 or 05_garam_masala); default: all")
    runner.add_argument("--smoke", action="store_true", help="1 epoch on a few thousand samples; publishes nothing")
    runner.add_argument("--seeds", type=int, nargs="+", help="run once per seed; publishes results/<stem>.seeds.json")
    runner.add_argument("-p", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override a notebook parameter (repeatable)")
    runner.add_argument("--no-publish", action="store_true", help="leave notebooks/, results/ and README alone")
    runner.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT_SECONDS, help="seconds per cell")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # notebook output streams through: show it as it comes
    try:
        if args.command == "list":
            for stem in notebook_stems():
                print(f"{stem}: " + ", ".join(f"{k}={v}" for k, v in notebook_parameters(stem).items()))
            return 0
        outcomes = run(args.names, args.smoke, args.seeds, {k: parse_value(v) for k, v in args.p},
                       not args.no_publish, args.cell_timeout)
    except SeriesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = [o for o in outcomes if o.error]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} runs succeeded")
    for outcome in failed:
        print(outcome.error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
