"""Rebuild the README's generated parts (between <!-- NAME:begin --> and <!-- NAME:end -->) from results/."""
import re

from utils.metrics import TARGET_ACCURACY, TARGET_LAST_EPOCHS, read_json
from utils.project import README, RESULTS_DIR, colab_url


def _min_last(record):
    return min(record["test_acc"][-TARGET_LAST_EPOCHS:])


def _yes_no(flag):
    return "yes" if flag else "no"


def results_table(records):
    rows = ["| notebook | model | params | epochs | seed | best test acc | min of last 3 | first epoch ≥ 99.4 % "
            "| target | s/epoch | device |", "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for r in records:
        seconds = sum(r["epoch_seconds"]) / len(r["epoch_seconds"])
        rows.append(f"| [{r['notebook']}](notebooks/{r['notebook']}.ipynb) | `{r['model']}` | {r['params']:,} "
                    f"| {r['epochs']} | {r['seed']} | {r['best_test_acc']:.2f} % | {_min_last(r):.2f} % "
                    f"| {r['first_epoch_at_target'] or '–'} | {_yes_no(r['target_reached'])} | {seconds:.1f} "
                    f"| {r['device']} |")
    return "\n".join(rows)


def seeds_table(stem, records):
    reached = sum(r["target_reached"] for r in records)
    rows = [f"**{stem}**, `{records[0]['model']}`, {records[0]['params']:,} parameters, {records[0]['epochs']} "
            f"epochs: {reached} of {len(records)} seeds reach the target (≥ {TARGET_ACCURACY} % in each of the "
            f"last {TARGET_LAST_EPOCHS} epochs).", "",
            "| seed | best test acc | min of last 3 | last epoch | first epoch ≥ 99.4 % | target |",
            "|---:|---:|---:|---:|---:|---|"]
    for r in sorted(records, key=lambda r: r["seed"]):
        rows.append(f"| {r['seed']} | {r['best_test_acc']:.2f} % | {_min_last(r):.2f} % | {r['test_acc'][-1]:.2f} % "
                    f"| {r['first_epoch_at_target'] or '–'} | {_yes_no(r['target_reached'])} |")
    return "\n".join(rows)


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
    """Rewrite the results, seeds and Colab sections of the README from the committed metrics."""
    from utils.series import notebook_stems  # the runner imports this module; import back lazily

    # only <notebook>.json and <notebook>.seeds.json: results/ also holds other files (06's ablation runs)
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
    readme.write_text(text)
