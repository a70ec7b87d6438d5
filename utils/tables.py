"""Markdown tables of run records: the results table, a recipe's seeds table with its spread, an ablation table.

Standard library only at import (a paired difference loads scipy): the README tools and the notebooks build the same
tables from the same records.
"""
import statistics

from utils.metrics import TARGET_ACCURACY, TARGET_LAST_EPOCHS, min_last, paired_difference, spread
from utils.provenance import current_command
from utils.recipes import INGREDIENTS

ALWAYS_SHOWN = ("model", "epochs", "batch_size", "optimizer", "lr")  # a recipe's table shows these even at default


def known(value):
    """A record's value, or '?' where the record never had it (its `unknown` list names the field)."""
    return "?" if value is None else value


def machine_short(record):
    """Where a run happened, in a few words: 'cpu AVX2 ×2' or the GPU's name."""
    if record["gpu"]:
        return record["gpu"]
    return f"{known(record['device'])} {known(record['cpu_capability'])} ×{known(record['threads'])}"


def code_short(record):
    """Which code made a run: its commit (7 digits, '+' when utils/ had uncommitted changes), else the hash of
    utils/ (a copy without git), else 'unknown'."""
    code = record["code"]
    if code is None:
        return "unknown"
    if code["commit"]:
        return code["commit"][:7] + ("+" if code["dirty"] else "")
    return f"utils {code['utils_sha256'][:7]}"


def _yes_no(flag):
    return "yes" if flag else "no"


def escape(text):
    """A table cell's text with '|' escaped, so that it does not split the cell."""
    return text.replace("|", r"\|")


def taught_by(record):
    """'taught by 05' for a run that learned from a teacher (utils.distill) of notebook 05's recipe, else ''."""
    teacher = record.get("teacher")
    if not teacher:
        return ""
    return f"taught by {teacher['notebook'][:2]}" if teacher.get("notebook") else f"taught by {teacher['file']}"


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
                    f"| {r['first_epoch_at_target'] or '–'} | {_yes_no(r['target_reached'])} | {seconds:.1f} "
                    f"| {machine_short(r)} | {code_short(r)} |")
    return "\n".join(rows)


def spread_text(records):
    """One sentence: seeds at target, mean ± sd and lowest of the min of the last 3, median first epoch."""
    s = spread(records)
    first = f"{s['median_first_epoch']:g}" if s["median_first_epoch"] is not None else "–"
    tested_from = max(first_tested(r) for r in records)
    return (f"{s['at_target']} of {s['runs']} seeds reach the target (≥ {TARGET_ACCURACY} % in each of the last "
            f"{TARGET_LAST_EPOCHS} epochs); min of the last 3: mean {s['mean']:.2f} ± {s['sd']:.2f} % (sd), "
            f"lowest {s['lowest']:.2f} %; first epoch ≥ {TARGET_ACCURACY} %: median {first}"
            + (f" (tested only from epoch {tested_from} on)." if tested_from > 1 else "."))


def first_tested(record):
    """The first epoch a run tested (1 unless RunConfig.eval_last_epochs skipped the earlier ones)."""
    return next((epoch for epoch, acc in enumerate(record["test_acc"], 1) if acc is not None), 1)


def time_text(records):
    """One sentence on fit()'s wall time over the runs (records made before runs were timed give ''): the figure
    of the speedrun is its median, when every run holds the target."""
    times = [r["fit_seconds"] for r in records if r["fit_seconds"] is not None]
    if len(times) < len(records) or not records:
        return ""
    held = sum(r["target_reached"] for r in records)
    load = statistics.median(r["load_seconds"] for r in records)
    timing = (f"median {statistics.median(times):.1f} s over {len(times)} seeds ({min(times):.1f}–{max(times):.1f} s;"
              f" loading MNIST apart, median {load:.1f} s)")
    if held == len(records):
        return f"Time to a target-holding run (`fit()`'s wall time): {timing}."
    return (f"`fit()`'s wall time: {timing}; not yet a time to a target-holding run: {held} of {len(records)} "
            "held the target.")


def epoch_times(record):
    """Where one run's time went: per epoch, training and test (with the average's BatchNorm recomputation)."""
    rows = ["| epoch | train s | test s | epoch s |", "|---:|---:|---:|---:|"]
    for epoch, (total, tested, acc) in enumerate(zip(record["epoch_seconds"], record["eval_seconds"],
                                                     record["test_acc"]), 1):
        rows.append(f"| {epoch} | {total - tested:.2f} | {tested:.2f} | {total:.2f} |" if acc is not None
                    else f"| {epoch} | {total:.2f} | not tested | {total:.2f} |")
    epochs = sum(record["epoch_seconds"])
    rows.append(f"| all | {epochs - sum(record['eval_seconds']):.2f} | {sum(record['eval_seconds']):.2f} "
                f"| {epochs:.2f} |")
    return "\n".join(rows + ["", f"`fit()` took {record['fit_seconds']:.2f} s: the epochs, and "
                                 f"{record['fit_seconds'] - epochs:.2f} s to set up (optimizer, schedule, weight "
                                 f"average) and finish. Loading MNIST before it took {record['load_seconds']:.2f} s."])


def seeds_table(title, records, chosen_on=None):
    """A recipe's runs over seeds: a summary sentence (spread_text, and time_text once runs are timed; what the
    recipe was chosen on, when given), then one row per seed."""
    machines = sorted({machine_short(r) for r in records})
    codes = sorted({code_short(r) for r in records})
    timing = time_text(records)
    summary = " ".join(filter(None, [spread_text(records), timing,
                                     f"Recipe chosen on {chosen_on}." if chosen_on else ""]))
    timed = bool(timing)
    first = records[0]
    taught = taught_by(first)
    taught = f", {taught} ({first['teacher']['params']:,} parameters)" if taught else ""
    rows = [f"**{title}**, `{first['model']}`{taught}, {first['params']:,} parameters, {first['epochs']} "
            f"epochs, {', '.join(machines)}, code {', '.join(codes)}: {summary}", "",
            "| seed | best test acc | min of last 3 | last epoch | first epoch ≥ 99.4 % | target |"
            + (" fit() s |" if timed else ""), "|---:|---:|---:|---:|---:|---|" + ("---:|" if timed else "")]
    for r in sorted(records, key=lambda r: r["seed"]):
        rows.append(f"| {r['seed']} | {r['best_test_acc']:.2f} % | {min_last(r['test_acc']):.2f} % "
                    f"| {r['test_acc'][-1]:.2f} % | {r['first_epoch_at_target'] or '–'} "
                    f"| {_yes_no(r['target_reached'])} |" + (f" {r['fit_seconds']:.1f} |" if timed else ""))
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
    (utils.provenance.current_command), as a user would type it again."""
    rows = ["| result | records | command | code | machine |", "|---|---:|---|---|---|"]
    for name, records in files.items():
        commands = sorted({current_command(r["command"]) or "unknown" for r in records})
        rows.append(f"| `{name}` | {len(records)} | {'<br>'.join(f'`{escape(c)}`' for c in commands)} "
                    f"| {', '.join(sorted({code_short(r) for r in records}))} "
                    f"| {', '.join(sorted({machine_short(r) for r in records}))} |")
    return "\n".join(rows)


def ingredient_value(name, config):
    """An ingredient's value as a recipe table shows it."""
    value = config[name]
    if name == "model" and config["model_args"]:
        return f"`{value}` " + ", ".join(f"{k}={v}" for k, v in config["model_args"].items())
    if name == "model":
        return f"`{value}`"
    if name == "augment":
        shown = {"rotate": "rotation ±{:g}°", "shift": "shift ±{:.0%}", "scale": "scale ±{:.0%}",
                 "elastic": "elastic α {:g} px"}
        parts = [form.format(value[k]) for k, form in shown.items() if value.get(k)]
        if value.get("elastic"):
            parts[-1] += f" (σ {value['elastic_sigma']:g} px)"
        return ", ".join(parts) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def recipe_table(config, defaults):
    """A config's recipe as Markdown: ingredient, value, what it does (utils.recipes.INGREDIENTS), for every
    ingredient away from its default (`defaults`, a config dict) and the basic ones; then where the run happens."""
    shown = [name for name in INGREDIENTS if name in ALWAYS_SHOWN or config[name] != defaults[name]
             or (name == "momentum" and config["optimizer"] == "sgd")]
    rows = ["| ingredient | value | what it does |", "|---|---|---|"]
    rows += [f"| {name} | {escape(ingredient_value(name, config))} | {INGREDIENTS[name]} |" for name in shown]
    where = f"seed {config['seed']}, device {config['device']}, MNIST in `{config['data_dir']}`"
    return "\n".join(rows + ["", where + (" — **smoke run**: a few epochs on a few thousand images, numbers mean "
                                           "nothing" if config["smoke"] else "")])
