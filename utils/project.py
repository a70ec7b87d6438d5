"""Where the project's pieces live, its public address, and the names the runner and the notebooks share.

Standard library only: the runner and the README tools import this without torch.
"""
import contextlib
import os
from pathlib import Path

GITHUB_REPO = "tiny-mnist/tiny-mnist-series"  # owner/name on GitHub: the Colab badges and setup cells use it
REPO_URL = f"https://github.com/{GITHUB_REPO}"

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
RESULTS_DIR = ROOT / "results"  # metrics of full runs, committed
IMAGES_DIR = ROOT / "readme_images"  # figures of full runs, committed
RUNS_DIR = ROOT / "runs"  # every execution lands here first (smoke runs stay here); not committed
README = ROOT / "README.md"  # the guide: what the series is, how to open, run and extend it, the results table
RESULTS_README = RESULTS_DIR / "README.md"  # where the numbers come from: seeds, searches, provenance, speed

HEADLESS_ENV = "TINY_MNIST_HEADLESS"  # set by the runner: fit prints one line per epoch instead of a live bar
METRICS_FILE = "metrics.json"  # what a notebook leaves in its output_dir; written last, so it marks a finished run
MODEL_FILE = "model.pt"  # the final model of a run, beside its metrics; published as results/<notebook>.pt


def notebook_stems():
    """Stems of the numbered notebooks, in story order."""
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def colab_url(stem):
    """The 'Open in Colab' address of notebooks/<stem>.ipynb."""
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/main/notebooks/{stem}.ipynb"


@contextlib.contextmanager
def environment_variable(name, value):
    """Set `name` to `value` for the processes started inside the block (kernels, Ray workers), then restore it."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
