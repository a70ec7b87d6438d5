"""Markdown tables of run records that notebooks show: a recipe's seeds table with its spread and times, a run's
epoch times. The lab's own tables (results, ablations, provenance) are utils.lab.tables.

Standard library only: the README tools and the notebooks build the same tables from the same records.
"""
import statistics

from utils.metrics import TARGET_ACCURACY, TARGET_LAST_EPOCHS, min_last, spread
from utils.provenance import machine_short
from utils.recipes import taught_by


def code_short(record):
    """Which code made a run: its commit (7 digits, '+' when utils/ had uncommitted changes), else the hash of
    utils/ (a copy without git), else 'unknown'."""
    code = record["code"]
    if code is None:
        return "unknown"
    if code["commit"]:
        return code["commit"][:7] + ("+" if code["dirty"] else "")
    return f"utils {code['utils_sha256'][:7]}"


def yes_no(flag):
    return "yes" if flag else "no"


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
                    f"| {yes_no(r['target_reached'])} |" + (f" {r['fit_seconds']:.1f} |" if timed else ""))
    return "\n".join(rows)


