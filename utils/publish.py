"""Publishing finished full runs: what the repository shows comes from them, one publisher at a time.

A notebook's run becomes the published one: its executed notebook replaces notebooks/<stem>.ipynb, its record and
model go to the store (results/), its figures to readme_images/. A seed of a sweep joins its recipe's seeds file.
After either, the README's generated sections are rebuilt. Each file is written atomically, under one lock, so
runners that finish together publish one after the other, never interleaved.

Standard library only at import: the README's figure loads matplotlib when it is drawn.
"""
import contextlib

from utils.files import atomic_copy, file_lock
from utils.project import IMAGES_DIR, MODEL_FILE, NOTEBOOKS_DIR, RUNS_DIR
from utils.readme import refresh_readme
from utils.store import add_seed_record, publish_single

FIGURES = ("curves", "misclassified")  # PNGs a notebook saves into its output_dir


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
        atomic_copy(outcome.notebook, NOTEBOOKS_DIR / f"{outcome.stem}.ipynb")
        for name in FIGURES:
            if (out_dir / f"{name}.png").is_file():
                atomic_copy(out_dir / f"{name}.png", IMAGES_DIR / f"{outcome.stem}_{name}.png")
        refresh_readme()


def publish_seed_run(stem, record, log):
    """Add a sweep's finished seed to results/<stem>.seeds.json and rebuild the README."""
    with publishing():
        add_seed_record(stem, record, log)
        refresh_readme()
