"""The lab's Markdown tables of run records, published in results/README.md: the results table, an ablation table
(each variant's paired difference from the base), the provenance of every results file.

Standard library only at import (a paired difference loads scipy): the README tools build them without torch.
"""
import statistics

from utils.lab.cli import current_command
from utils.metrics import min_last, paired_difference, spread
from utils.provenance import machine_short
from utils.recipes import escape, taught_by
from utils.tables import code_short, yes_no


def results_table(records):
    """One row per published single run."""
    rows = ["| notebook | model | params | epochs | seed | best test acc | min of last 3 | first epoch ≥ 99.4 % "
            "| target | s/epoch | machine | code |", "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|"]
    for r in records:
        seconds = statistics.mean(r["epoch_seconds"])
        taught = taught_by(r)
        model = f"`{r['model']}`" + (f", {taught}" if taught else "")
        rows.append(f"| [{r['notebook']}](notebooks/{r['notebook']}.ipynb) | {model} | {r['params']:,} "
                    f"| {r['epochs']} | {r['seed']} | {r['best_test_acc']:.2f} % | {min_last(r['test_acc']):.2f} % "
                    f"| {r['first_epoch_at_target'] or '–'} | {yes_no(r['target_reached'])} | {seconds:.1f} "
                    f"| {machine_short(r)} | {code_short(r)} |")
    return "\n".join(rows)


def difference_text(difference):
    """A paired difference in a table cell: '+0.02 (-0.03 to +0.07)', the mean alone without an interval."""
    if difference["low"] is None or difference["low"] == difference["high"]:
        return f"{difference['mean']:+.2f}"
    return f"{difference['mean']:+.2f} ({difference['low']:+.2f} to {difference['high']:+.2f})"


def ablation_table(records, titles, seconds=False):
    """Per variant (titles: {id: title}, in table order), parameters and the mean ± sd and lowest over seeds of the
    last-3-epoch minimum, the machine and the code; with `seconds`, also the mean wall time of its fit()
    (comparable only between runs made one at a time).

    Δ compares a variant with the base on the seeds both have, so a variant run on fewer seeds is not measured
    against the base's other seeds: the mean paired difference and its interval (utils.metrics.paired_difference,
    what a notebook's judge says too). A variant whose runs went without a lever they asked for (utils.levers) gets a
    line under the table with the note its runs gave.
    """
    by_variant = {}
    for record in records:
        by_variant.setdefault(record["variant"], []).append(record)
    base = {r["seed"]: min_last(r["test_acc"]) for r in by_variant.get("base", [])}
    rows = ["| variant | params | seeds | min(last 3): mean ± sd | worst seed | mean best | at target "
            "| Δ vs base, same seeds (95 % interval) | machine | code |" + (" fit() s |" if seconds else ""),
            "|---|---:|---|---:|---:|---:|---:|---:|---|---|" + ("---:|" if seconds else "")]
    for name in [n for n in titles if n in by_variant]:
        runs = sorted(by_variant[name], key=lambda r: r["seed"])
        s = spread(runs)
        sd = f" ± {s['sd']:.2f}" if s["runs"] > 1 else ""
        shared = [(base[r["seed"]], min_last(r["test_acc"])) for r in runs if r["seed"] in base]
        delta = difference_text(paired_difference(shared)) if shared else "–"
        machines = ", ".join(sorted({machine_short(r) for r in runs}))
        codes = ", ".join(sorted({code_short(r) for r in runs}))
        rows.append(f"| {escape(titles[name])} | {runs[0]['params']:,} | {', '.join(str(r['seed']) for r in runs)} "
                    f"| {s['mean']:.2f}{sd} % | {s['lowest']:.2f} % "
                    f"| {statistics.mean(r['best_test_acc'] for r in runs):.2f} % "
                    f"| {s['at_target']}/{s['runs']} | {delta} | {machines} | {codes} |"
                    + (f" {statistics.mean(r['fit_seconds'] for r in runs):.1f} |" if seconds else ""))
    notes = []
    for name in titles:
        fallbacks = {note for r in by_variant.get(name, []) for note in (r.get("levers") or {}).get("notes", [])}
        notes += [f"- *{escape(titles[name])}*: {escape(note)}" for note in sorted(fallbacks)]
    return "\n".join(rows + ([""] + notes if notes else []))


def provenance_table(files):
    """Per results file ({name: records}): how many records, the commands that made them, their code and
    machines; a record made before records said so counts as 'unknown'. A command shows under today's name
    (utils.lab.cli.current_command), as a user would type it again."""
    rows = ["| result | records | command | code | machine |", "|---|---:|---|---|---|"]
    for name, records in files.items():
        commands = sorted({current_command(r["command"]) or "unknown" for r in records})
        rows.append(f"| `{name}` | {len(records)} | {'<br>'.join(f'`{escape(c)}`' for c in commands)} "
                    f"| {', '.join(sorted({code_short(r) for r in records}))} "
                    f"| {', '.join(sorted({machine_short(r) for r in records}))} |")
    return "\n".join(rows)
