"""The ablation of a notebook's recipe: change one thing at a time, train each variant over the same seeds.

  python -m utils.ablation STEM [--seeds 0-4] [--only NAME...] [--address HOST:PORT] [--cpus-per-run N]
                                [--gpus-per-run F]                        (STEM: 05, 06_smallest, 07, ...)

The variants are data in utils.recipes.ABLATIONS. Each (variant, seed) is one run on Ray (utils.scale), started
inside the command or on a cluster at --address. This process appends every finished run's record to
results/<NN>_ablation.json at once, so an interrupted ablation keeps what it did and a re-run skips it. A record
counts only while its variant still defines the same experiment (RunConfig.experiment()): after an edit of a
recipe or a variant, older records stay in the file but are ignored and re-run.
"""
import argparse
import sys
from dataclasses import dataclass

from utils.config import RunConfig
from utils.data import mnist
from utils.engine import build_model, fit
from utils.files import read_json, update_json
from utils.metrics import min_last, target_reached
from utils.mnist import ensure_mnist
from utils.models import count_parameters
from utils.project import ROOT
from utils.provenance import machine
from utils.recipes import ABLATIONS
from utils.scale import Pool, Resources, SchedulingError, add_arguments, data_folder, resources_from
from utils.series import SeriesError, parse_seeds, resolve
from utils.tables import ablation_table
from utils.variants import ablation_path, current_records, variant_config, variants


@dataclass
class VariantRun:
    """One (variant, seed) run as a worker receives it: the whole config, so workers need no recipe lookup."""

    variant: str
    config: dict  # RunConfig fields; data_dir is the driver's MNIST folder


def train_variant(job):
    """Train one (variant, seed) with this process's threads; returns its record."""
    config = RunConfig(**{**job.config, "data_dir": str(data_folder(job.config["data_dir"]))})
    model = build_model(config)
    data = mnist(config)
    history = fit(model, data, config, progress="none")
    params = count_parameters(model)
    return {"variant": job.variant, "seed": config.seed, "params": params, "train_loss": history.train_loss,
            "test_acc": history.test_acc,
            "best_test_acc": max(history.test_acc), "min_last_3": min_last(history.test_acc),
            "target_reached": target_reached(history.test_acc, params), "seconds": history.fit_seconds,
            "device": str(config.resolved_device), **machine(config.resolved_device),
            "experiment": config.experiment()}


def same_run(record):
    """What makes two ablation records records of one run: variant, seed and experiment."""
    return record.get("variant"), record.get("seed"), record.get("experiment")


def run_ablation(stem, seeds, names=None, resources=None, path=None, data_dir=ROOT / "data", log=print):
    """Run the missing (variant, seed) pairs of `stem`'s ablation, appending each record to `path` as it ends.

    Returns every record in `path` afterwards; a run that failed is logged and leaves no record."""
    _, changes = variants(stem)
    path = path or ablation_path(stem)
    names = names or list(changes)
    unknown = sorted(set(names) - set(changes))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown} of {stem}; known: {list(changes)}")
    resources = (resources or Resources()).check()
    records = read_json(path) if path.is_file() else []
    current = current_records(stem, records)
    done = {(r["variant"], r["seed"]) for r in current}
    # variant by variant, so that a run stopped early leaves whole rows (every seed) for the variants it did
    todo = [(name, seed) for name in names for seed in seeds if (name, seed) not in done]
    stale = len(records) - len(current)
    log(f"{len(todo)} runs to do, {len(done)} already in {path}" + (f", {stale} stale ones ignored" if stale else ""))
    if not todo:
        return records

    def keep(finished):
        nonlocal records
        if finished.error:
            log(f"{finished.job.variant} seed {finished.job.config['seed']} FAILED: {finished.error}")
            return
        record = finished.result

        def add(stored):  # the file as it is now: another command may have added to it, even this same run
            return [r for r in stored if same_run(r) != same_run(record)] + [record]

        records = update_json(path, add, default=[])
        log(f"{record['variant']} seed {record['seed']}: min of last 3 {record['min_last_3']:.2f} %, "
            f"{record['seconds']:.0f} s ({record['threads']} threads, {finished.node})")

    ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch
    with Pool(resources, len(todo), log) as pool:
        jobs = [VariantRun(name, variant_config(stem, name, seed, data_dir, pool.run_device).to_dict())
                for name, seed in todo]
        pool.run(train_variant, jobs, keep)
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m utils.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help=f"whose recipe to ablate: {', '.join(ABLATIONS)} (or 05, 06, 07)")
    parser.add_argument("--seeds", nargs="+", default=["0"], help="e.g. 0-4 or 0 1 2")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these variants")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        (stem,) = resolve([args.notebook])
        seeds = parse_seeds(args.seeds)
        wanted = {(name, seed) for name in args.only or variants(stem)[1] for seed in seeds}
        records = run_ablation(stem, seeds, args.only, resources_from(args))
    except (ValueError, SeriesError, SchedulingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the finished runs are in the ablation file; run the same command to do the rest",
              file=sys.stderr)
        return 130
    current = current_records(stem, records)
    print(ablation_table(current, list(variants(stem)[1])))
    missing = wanted - {(r["variant"], r["seed"]) for r in current}
    if missing:
        print(f"{len(missing)} of {len(wanted)} runs have no record (failed: see above)", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
