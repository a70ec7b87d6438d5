"""Rebuild the README's generated parts (between <!-- NAME:begin --> and <!-- NAME:end -->) from results/."""
import re

from utils.files import atomic_write
from utils.project import GITHUB_REPO, IMAGES_DIR, README, RESULTS_DIR, colab_url, notebook_stems
from utils.recipes import chosen_on
from utils.speedrun import PAIR, speedrun_table
from utils.store import bench_path, records_in, result_files, seeds_files, single_path
from utils.tables import provenance_table, results_table, seeds_table

SEEDS_FIGURE = "seeds.png"
SPEEDRUN = PAIR[1]  # whose bench file holds the speedrun's ratio


def ci_badge():
    """The status badge of the GitHub Actions workflow (.github/workflows/ci.yml) that runs .ci/run."""
    workflow = f"https://github.com/{GITHUB_REPO}/actions/workflows/ci.yml"
    return f"[![CI]({workflow}/badge.svg)]({workflow})"


def colab_table(stems):
    rows = [f"CI on every push: {ci_badge()}", "", "| notebook | open |", "|---|---|"]
    for stem in stems:
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(stem)})"
        rows.append(f"| [{stem}](notebooks/{stem}.ipynb) | {badge} |")
    return "\n".join(rows)


def replace_section(text, name, body):
    """Swap what stands between the NAME markers for `body`; the markers must exist."""
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name}:begin --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def rewrite_section(name, body, readme=README):
    """Replace one generated section of the README (one a command writes itself, not from the store)."""
    text = replace_section(readme.read_text(), name, body)
    atomic_write(readme, lambda file: file.write(text.encode()))


def refresh_readme(readme=README, results_dir=RESULTS_DIR, images_dir=IMAGES_DIR):
    """Rewrite the results, seeds, provenance, Colab and speedrun sections of the README from the store,
    atomically, and draw the seeds figure (images_dir/seeds.png) from the seeds files."""
    stems = notebook_stems()
    singles = [r for s in stems for r in records_in(single_path(s, results_dir)) if not r["smoke"]]
    seeds = seeds_files(results_dir)
    text = readme.read_text()
    text = replace_section(text, "results", results_table(singles) if singles else "_No full runs yet._")
    text = replace_section(text, "seeds", "\n\n".join(seeds_table(t, r, chosen_on(t)) for t, r in seeds.items())
                           or "_No multi-seed runs yet._")
    files = {path.relative_to(results_dir.parent).as_posix(): records_in(path) for path in result_files(results_dir)}
    text = replace_section(text, "provenance", provenance_table(files) if files else "_No results yet._")
    text = replace_section(text, "colab", colab_table(stems))
    text = replace_section(text, "speedrun", speedrun_table(records_in(bench_path(SPEEDRUN, results_dir))))
    if seeds:
        from utils.plots import plot_seeds  # matplotlib (and torch, through utils.data): only when drawing

        figure = plot_seeds(seeds)
        atomic_write(images_dir / SEEDS_FIGURE, lambda file: figure.savefig(file, format="png", dpi=110,
                                                                            bbox_inches="tight"))
    atomic_write(readme, lambda file: file.write(text.encode()))
