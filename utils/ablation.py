"""The ablation of a notebook's recipe: change one thing at a time, train each variant over the same seeds.

  python -m utils.ablation STEM [--seeds 0-4] [--only NAME...] [--jobs 2]      (STEM: 05, 06_smallest, ...)

The variants are data in utils.recipes.ABLATIONS. Every finished (variant, seed) run is appended to
results/<NN>_ablation.json at once, so an interrupted ablation keeps what it did and a re-run skips it. A record
counts only while its variant still defines the same experiment (RunConfig.experiment()): after an edit of a
recipe or a variant, older records stay in the file but are ignored and re-run.
"""
import argparse
import multiprocessing
import os
import sys
import time

import torch

from utils.data import load_mnist
from utils.engine import build_model, fit
from utils.files import read_json, write_json
from utils.metrics import min_last, target_reached
from utils.models import count_parameters
from utils.project import ROOT
from utils.provenance import machine
from utils.recipes import ABLATIONS
from utils.series import SeriesError, parse_seeds, resolve
from utils.tables import ablation_table
from utils.variants import ablation_path, current_records, variant_config, variants


def train_variant(job):
    """Train one (variant, seed) on the CPU; returns its record."""
    stem, name, seed, data_dir = job
    config = variant_config(stem, name, seed, data_dir)
    model = build_model(config)
    data = load_mnist(data_dir, "cpu", config.augment)
    started = time.perf_counter()
    history = fit(model, data, config, progress="none")
    params = count_parameters(model)
    return {"variant": name, "seed": seed, "params": params, "test_acc": history.test_acc,
            "best_test_acc": max(history.test_acc), "min_last_3": min_last(history.test_acc),
            "target_reached": target_reached(history.test_acc, params), "seconds": time.perf_counter() - started,
            "device": "cpu", **machine(torch.device("cpu")), "experiment": config.experiment()}


def _init_worker(threads):
    torch.set_num_threads(threads)


def run_ablation(stem, seeds, names=None, jobs=1, path=None, data_dir=ROOT / "data", log=print):
    """Run the missing (variant, seed) pairs of `stem`'s ablation, appending each record to `path` as it ends."""
    _, changes = variants(stem)
    path = path or ablation_path(stem)
    names = names or list(changes)
    unknown = sorted(set(names) - set(changes))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown} of {stem}; known: {list(changes)}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs {jobs}: give at least 1 (runs in parallel)")
    records = read_json(path) if path.is_file() else []
    current = current_records(stem, records)
    done = {(r["variant"], r["seed"]) for r in current}
    # variant by variant, so that a run stopped early leaves whole rows (every seed) for the variants it did
    todo = [(stem, name, seed, str(data_dir)) for name in names for seed in seeds if (name, seed) not in done]
    stale = len(records) - len(current)
    log(f"{len(todo)} runs to do, {len(done)} already in {path}" + (f", {stale} stale ones ignored" if stale else ""))
    if not todo:
        return records
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with multiprocessing.get_context("spawn").Pool(jobs, _init_worker, (threads,)) as pool:
        for record in pool.imap_unordered(train_variant, todo):
            records.append(record)
            write_json(records, path)
            log(f"{record['variant']} seed {record['seed']}: min of last 3 {record['min_last_3']:.2f} %, "
                f"{record['seconds']:.0f} s")
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help=f"whose recipe to ablate: {', '.join(ABLATIONS)} (or 05, 06)")
    parser.add_argument("--seeds", nargs="+", default=["0"], help="e.g. 0-4 or 0 1 2")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these variants")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (threads are split between them)")
    args = parser.parse_args(argv)
    try:
        (stem,) = resolve([args.notebook])
        records = run_ablation(stem, parse_seeds(args.seeds), args.only, args.jobs)
    except (ValueError, SeriesError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(ablation_table(current_records(stem, records), list(variants(stem)[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
