"""Publishing finished full runs: what the repository shows comes from them, one publisher at a time.

A notebook's run becomes the published one: its executed notebook, less the runner's traces (papermill's injected
parameters cell, which names the run's folder, and the machine's paths in its metadata), replaces
notebooks/<stem>.ipynb, so that Run All on a fresh clone writes nothing a user did not ask for; a note in the
injected cell's place names the command and any parameter it changed. Its record and model go to the store
(results/), its figures to readme_images/. A seed of a sweep joins its recipe's seeds file.
After either, the generated sections of the README and results/README.md are rebuilt. Each file is written
atomically, under one lock, so runners that finish together publish one after the other, never interleaved.

Standard library only at import: the seeds figure loads matplotlib when it is drawn.
"""
import contextlib

from utils.files import atomic_copy, atomic_write, file_lock
from utils.lab.readme import refresh_readme, rewrite_section
from utils.lab.store import add_seed_record, publish_single
from utils.project import IMAGES_DIR, MODEL_FILE, NOTEBOOKS_DIR, RUNS_DIR

FIGURES = ("curves", "misclassified")  # PNGs a notebook saves into its output_dir
INJECTED_TAG = "injected-parameters"  # papermill's cell of the parameters it was given
NOTE_TAG = "published-run"  # the note that takes its place; the next publication writes its own
# not in the note: parameters that decide no number (where a run's files, checkpoints and MNIST are) and smoke (off)
UNNOTED_PARAMETERS = ("output_dir", "checkpoint_dir", "data_dir", "smoke")
MACHINE_METADATA = ("input_path", "output_path", "parameters", "default_parameters", "environment_variables")


def published_notebook(path, command):
    """The executed notebook at `path` as it is published (nbformat text): the injected parameters cell becomes a
    note naming `command` and the parameters it changed; papermill's metadata keeps its times, not the paths."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    papermill = notebook.metadata.get("papermill", {})
    changed = ", ".join(f"`{name} = {value!r}`" for name, value in papermill.get("parameters", {}).items()
                        if name not in UNNOTED_PARAMETERS)
    note = nbformat.v4.new_markdown_cell(f"*Published run:* `{command}`, "
                                         + (f"with {changed} instead of the values above." if changed
                                            else "with the values above."), metadata={"tags": [NOTE_TAG]})
    cells = [cell for cell in notebook.cells if NOTE_TAG not in cell.metadata.get("tags", [])]
    notebook.cells = [note if INJECTED_TAG in cell.metadata.get("tags", []) else cell for cell in cells]
    if papermill:
        notebook.metadata.papermill = {k: v for k, v in papermill.items() if k not in MACHINE_METADATA}
    return nbformat.writes(notebook)


@contextlib.contextmanager
def publishing():
    """Hold the publisher's lock (runs/.publish.lock): what one publisher writes, the next one sees whole."""
    with file_lock(RUNS_DIR / "publish"):
        yield


def publish_notebook_run(outcome):
    """Make a successful full run (an execute.Outcome) the published one: notebook, record, model, figures."""
    out_dir = outcome.notebook.parent
    with publishing():
        publish_single(outcome.stem, outcome.record, out_dir / MODEL_FILE)
        text = published_notebook(outcome.notebook, outcome.record["command"])
        atomic_write(NOTEBOOKS_DIR / f"{outcome.stem}.ipynb", lambda file: file.write(text.encode()))
        for name in FIGURES:
            if (out_dir / f"{name}.png").is_file():
                atomic_copy(out_dir / f"{name}.png", IMAGES_DIR / f"{outcome.stem}_{name}.png")
        refresh_readme()


def publish_seed_run(stem, record, log):
    """Add a sweep's finished seed to results/<stem>.seeds.json and rebuild the generated sections."""
    with publishing():
        add_seed_record(stem, record, log)
        refresh_readme()


def refresh_published():
    """Rebuild the generated sections (README, results/README.md) from the store, after records were added outside
    publishing."""
    with publishing():
        refresh_readme()


def publish_section(name, body):
    """Write one section of results/README.md that a command builds itself (a search's ranking, the schedulers
    compared)."""
    with publishing():
        rewrite_section(name, body)
