"""Executing a notebook headlessly with papermill, here or in a Ray worker, into a run folder of its own under runs/.

Every execution gets a new, empty folder (runs/<mode>/<stem>/<time>-<pid>/) and leaves there the
executed notebook and what the notebook saved into its output_dir (metrics.json, model.pt, figures). A failure is
caught and named (cell, error, where the partly executed notebook is kept), never raised.

Standard library only at import: papermill is loaded when a notebook runs.
"""
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from utils.files import atomic_write, read_json
from utils.lab.cli import RequestError
from utils.lab.scale import link_data_folder
from utils.project import METRICS_FILE, NOTEBOOKS_DIR, ROOT, RUNS_DIR

CELL_TIMEOUT_SECONDS = 3600  # one cell; a full 15-epoch run on a slow CPU stays well inside


@dataclass
class Outcome:
    stem: str
    notebook: Path  # the executed (or partly executed) notebook in runs/
    record: dict = None  # the run's metrics; None when it failed
    error: str = ""


def notebook_parameters(stem):
    """{name: default} of the notebook's cell tagged 'parameters'."""
    import papermill

    found = papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{stem}.ipynb"))
    if not found:
        raise RequestError(f"{stem}.ipynb has no cell tagged 'parameters'")
    return {name: info["default"] for name, info in found.items()}


def execute(stem, parameters, out_dir, cell_timeout, log):
    """Run one notebook with papermill into out_dir; returns an Outcome (failures are caught, not raised)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_file = out_dir / METRICS_FILE
    notebook = out_dir / f"{stem}.ipynb"
    outcome = Outcome(stem, notebook)
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


def run_folder(mode, stem):
    """A new, empty folder for one execution: runs/<mode>/<stem>/<time>-<pid>[-<n>]."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    parent = RUNS_DIR / mode / stem
    parent.mkdir(parents=True, exist_ok=True)
    for number in range(1000):
        folder = parent / (name if number == 0 else f"{name}-{number}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RequestError(f"could not make a new run folder in {parent}")


@dataclass
class NotebookJob:
    """One execution as a worker receives it."""

    stem: str
    parameters: dict  # papermill's, output_dir included (relative to notebooks/: the same in every copy)
    cell_timeout: int
    data_dir: str  # the driver's MNIST folder; a worker that cannot see it fetches MNIST into its own

    @property
    def out_dir(self):
        return (NOTEBOOKS_DIR / self.parameters["output_dir"]).resolve()


def execute_job(job):
    """Execute one notebook in this process's copy of the project; returns its record, error and files (bytes)."""
    link_data_folder(job.data_dir)
    outcome = execute(job.stem, job.parameters, job.out_dir, job.cell_timeout, print)
    files = {path.name: path.read_bytes() for path in job.out_dir.iterdir() if path.is_file()}
    return {"record": outcome.record, "error": outcome.error, "files": files}


def collect(finished):
    """The Outcome of a finished execution, its files written into its run folder here (a worker's copy is gone)."""
    job = finished.job
    outcome = Outcome(job.stem, job.out_dir / f"{job.stem}.ipynb")
    if finished.error:  # the worker died, or the run raised outside papermill
        outcome.error = f"[{job.stem}] FAILED: {finished.error}"
        return outcome
    for name, data in finished.result["files"].items():
        if not (job.out_dir / name).is_file():  # a run made here wrote them itself
            atomic_write(job.out_dir / name, lambda file, data=data: file.write(data))
    outcome.record, outcome.error = finished.result["record"], finished.result["error"]
    return outcome
