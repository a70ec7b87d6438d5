"""The speedrun's figure on a CPU: 07's fit() time as a share of 05's, both measured alternately in one command.

A CPU's speed here drifts by tens of percent between sessions, so a time in seconds says little; the two recipes
trained side by side see the same machine state, and their ratio carries over. `measure` trains 05's recipe and
07's on the same seeds, one pair per seed, the order swapped every pair (05 first, then 07 first, ...) so that
neither always meets a cold or a warm machine; each pair gives 07's fit() seconds over 05's, and the figure is the
median over pairs. Every run is a whole run of its recipe (both also judged by the target rule); its record
(kind 'bench') joins results/07_speedrun.bench.json, which holds one command's pairs for each machine and kernels
(the AVX2 settings, the machine's own kernels, a GPU): `python -m utils.lab.bench --speedrun` replaces those of its
own kernels when it has measured them all.

Standard library only at import: results/README.md's table reads the ratio from the store without torch.
"""
import statistics

from utils.lab.cli import current_command
from utils.metrics import min_last
from utils.provenance import machine_short
from utils.tables import code_short

PAIR = ("05_garam_masala", "07_speedrun")  # (the reference, the speedrun): the ratio is the second's over the first's
MIN_PAIRS = 3


def pairs_of(records):
    """{seed: {stem: record}} of a bench file's records, only seeds with both recipes."""
    found = {}
    for record in records:
        found.setdefault(record["seed"], {})[record["notebook"]] = record
    return {seed: runs for seed, runs in sorted(found.items()) if set(runs) == set(PAIR)}


def pair_ratio(runs):
    reference, speedrun = (runs[stem]["fit_seconds"] for stem in PAIR)
    return speedrun / reference


def ratio(records):
    """The median over pairs of 07's fit() seconds over 05's, or None without a pair."""
    pairs = pairs_of(records)
    return statistics.median(pair_ratio(runs) for runs in pairs.values()) if pairs else None


def speedrun_table(records):
    """results/README.md's speedrun section: for each machine and kernels the bench measured on, one row per pair,
    then the ratio, the machine and the command."""
    measurements = {}
    for record in records:
        measurements.setdefault(machine_short(record), []).append(record)
    tables = [measurement_table(measured) for measured in measurements.values() if pairs_of(measured)]
    return "\n\n".join(tables) or "_No speedrun measurement yet: `python -m utils.lab.bench --speedrun`._"


def measurement_table(records):
    """One command's pairs, on one machine and kernels, as a table and its ratio."""
    pairs, first = pairs_of(records), records[0]
    rows = ["| seed | 05's recipe: fit() s | min of last 3 | 07's recipe: fit() s | min of last 3 | 07 / 05 |",
            "|---:|---:|---:|---:|---:|---:|"]
    for seed, runs in pairs.items():
        cells = [f"{runs[stem]['fit_seconds']:.1f} | {min_last(runs[stem]['test_acc']):.2f} %"
                 + ("" if runs[stem]["target_reached"] else " (missed)") for stem in PAIR]
        rows.append(f"| {seed} | {cells[0]} | {cells[1]} | {pair_ratio(runs):.3f} |")
    return "\n".join([
        *rows, "",
        f"**Ratio {ratio(records):.3f}** (median over {len(pairs)} pairs; {machine_short(first)}, "
        f"{first['cpu']}, torch {first['torch']}; code {code_short(first)}): `{current_command(first['command'])}`. "
        "Seconds compare only within this table."])


def measure(seeds, device, data_dir, log=print):
    """Train 05's recipe and 07's on each seed, alternating; returns their records in the order they ran."""
    from utils.config import RunConfig  # torch: only when training
    from utils.lab.training import train

    records = []
    for index, seed in enumerate(seeds):
        for stem in PAIR if index % 2 == 0 else PAIR[::-1]:
            config = RunConfig.from_recipe(stem, seed=seed, device=str(device), data_dir=str(data_dir))
            record = train(config, "bench", stem).record
            records.append(record)
            log(f"seed {seed} {stem}: fit() {record['fit_seconds']:.1f} s, min of last 3 "
                f"{min_last(record['test_acc']):.2f} %, target {'reached' if record['target_reached'] else 'missed'}",
                flush=True)
        log(f"seed {seed}: 07 / 05 = {pair_ratio(pairs_of(records)[seed]):.3f}", flush=True)
    return records
