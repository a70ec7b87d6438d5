"""The ablation of a notebook's recipe: change one thing at a time, train each variant over the same seeds.

  python -m utils.lab.ablation STEM [--seeds 0-4] [--only ID...] [--address HOST:PORT] [--cpus-per-run N]
                                    [--gpus-per-run F]                    (STEM: 05, 06_smallest, 07, ...)

The variants are data in utils.lab.ablation_plans.ABLATIONS, each with a short id (`--only silu clean-3`). Each
(variant, seed) is one run of utils.lab.training.train on Ray (utils.lab.scale), started inside the command or on a
cluster at --address. This process adds every finished run's record to results/<NN>_ablation.json at once, so an
interrupted ablation keeps what it did and a re-run skips it. A record counts only while its variant still defines
the same experiment, field by field (utils.experiment): after an edit of a recipe, a variant or a default, older
records stay in the file but are ignored and re-run.
"""
import argparse
import sys

from utils.lab.ablation_plans import ABLATIONS
from utils.lab.cli import ALLOW_DIRTY_HELP, RequestError, parse_seeds, refuse_uncommitted, resolve
from utils.lab.publish import refresh_published
from utils.lab.scale import Pool, Resources, SchedulingError, add_arguments, resources_from
from utils.lab.store import add_records, same_run
from utils.lab.training import TrainingJob, train_job
from utils.lab.variants import ablation
from utils.metrics import min_last
from utils.mnist import ensure_mnist
from utils.project import ROOT
from utils.provenance import announced, command_line
from utils.results import ablation_path, records_in
from utils.lab.tables import ablation_table


def run_ablation(stem, seeds, names=None, resources=None, path=None, data_dir=ROOT / "data", log=print,
                 command=None):
    """Run the missing (variant, seed) pairs of `stem`'s ablation, adding each record to `path` as it ends (and,
    for the store's own file, rebuilding the provenance in results/README.md). command: what the records name.

    Returns every record in `path` afterwards; a run that failed is logged and leaves no record."""
    plan = ablation(stem)
    path = path or ablation_path(stem)
    names = plan.chosen(names)
    resources = (resources or Resources()).check()
    records = records_in(path)
    current = plan.current(records)
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
        records = add_records(path, [record], same_run)  # the file as it is now: others may have added to it
        if path == ablation_path(stem):
            refresh_published()
        log(f"{record['variant']} seed {record['seed']}: min of last 3 {min_last(record['test_acc']):.2f} %, "
            f"{record['fit_seconds']:.0f} s ({record['threads']} threads, {finished.node})")

    ensure_mnist(data_dir, log=log)  # once, here: workers that see this folder need not fetch
    with announced(command), Pool(resources, len(todo), log) as pool:
        jobs = [TrainingJob(plan.config(name, seed, data_dir, pool.run_device).to_dict(), "ablation", stem, name)
                for name, seed in todo]
        pool.map(train_job, jobs, keep)
    return records


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m utils.lab.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help=f"whose recipe to ablate: {', '.join(ABLATIONS)} (or 05, 06, 07)")
    parser.add_argument("--seeds", nargs="+", default=["0"], help="e.g. 0-4 or 0 1 2")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these variants (ids as in the table)")
    parser.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY_HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        (stem,) = resolve([args.notebook])
        seeds = parse_seeds(args.seeds)
        plan = ablation(stem)
        wanted = {(name, seed) for name in plan.chosen(args.only) for seed in seeds}
        resources = resources_from(args)
        refuse_uncommitted(args.allow_dirty)
        records = run_ablation(stem, seeds, args.only, resources, command=command_line(["utils.lab.ablation", *argv]))
    except (ValueError, RequestError, SchedulingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the finished runs are in the ablation file; run the same command to do the rest",
              file=sys.stderr)
        return 130
    current = plan.current(records)
    print(ablation_table(current, plan.titles))
    missing = wanted - {(r["variant"], r["seed"]) for r in current}
    if missing:
        print(f"{len(missing)} of {len(wanted)} runs have no record (failed: see above)", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
