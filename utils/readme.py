"""Rebuild the README's generated parts (between <!-- NAME:begin --> and <!-- NAME:end -->) from results/."""
import re

from utils.files import atomic_write, read_json
from utils.project import README, RESULTS_DIR, colab_url, notebook_stems
from utils.tables import results_table, seeds_table


def colab_table(stems):
    rows = ["| notebook | open |", "|---|---|"]
    for stem in stems:
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(stem)})"
        rows.append(f"| [{stem}](notebooks/{stem}.ipynb) | {badge} |")
    return "\n".join(rows)


def replace_section(text, name, body):
    """Swap what stands between the NAME markers for `body`; the markers must exist."""
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name}:begin --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def refresh_readme(readme=README, results_dir=RESULTS_DIR):
    """Rewrite the results, seeds and Colab sections of the README from the committed metrics, atomically."""
    # only <notebook>.json and <notebook>.seeds.json: results/ also holds other files (the ablations' runs)
    stems = notebook_stems()
    singles = [read_json(results_dir / f"{s}.json") for s in stems if (results_dir / f"{s}.json").is_file()]
    singles = [r for r in singles if not r["smoke"]]
    seeds = {s: read_json(results_dir / f"{s}.seeds.json") for s in stems
             if (results_dir / f"{s}.seeds.json").is_file()}
    text = readme.read_text()
    text = replace_section(text, "results", results_table(singles) if singles else "_No full runs yet._")
    text = replace_section(text, "seeds", "\n\n".join(seeds_table(s, r) for s, r in seeds.items() if r)
                           or "_No multi-seed runs yet._")
    text = replace_section(text, "colab", colab_table(stems))
    atomic_write(readme, lambda file: file.write(text.encode()))
