"""Where the project's pieces live, and its public address (set here once; badges and setup cells follow it)."""
from pathlib import Path

GITHUB_REPO = "tiny-mnist/tiny-mnist-series"  # owner/name on GitHub: the Colab badges and setup cells use it
REPO_URL = f"https://github.com/{GITHUB_REPO}"

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
RESULTS_DIR = ROOT / "results"  # metrics of full runs, committed
IMAGES_DIR = ROOT / "readme_images"  # figures of full runs, committed
RUNS_DIR = ROOT / "runs"  # every execution lands here first (smoke runs stay here); not committed
README = ROOT / "README.md"


def colab_url(stem):
    """The 'Open in Colab' address of notebooks/<stem>.ipynb."""
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/main/notebooks/{stem}.ipynb"
