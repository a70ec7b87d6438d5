"""Search for a notebook's recipe without the test set: candidates over seeds on the validation split, on Ray Tune.

  python -m utils.lab.search STEM [--seeds 0-4] [--only ID...] [--scheduler median|asha|none] [--grace N]
                                  [--address HOST:PORT] [--cpus-per-run N] [--gpus-per-run F]
  python -m utils.lab.search STEM --table                the ranking of each search in results/ (also into
                                                         results/README.md)
  python -m utils.lab.search STEM --compare-schedulers   replay the finished trials through each scheduler (and
                                                         write the comparison into results/README.md)

The split: every trial trains on 50,000 of MNIST's 60,000 training images and is evaluated after each epoch on the
other 10,000, the same for every run (1,000 of each digit, chosen by a fixed rule: utils.data.validation_indices);
the test files are not read. The candidates are named in utils/lab/candidates.py (SEARCHES: a base and its changes by
id, `--only` picks some); a trial is one (candidate, seed). The scheduler (Ray Tune's, see utils.lab.tuning) stops
trials that clearly lag after each epoch from --grace on; `none` runs every trial to the end. A candidate is ranked
by its worst seed, then its mean, of the min of its last 3 validation epochs (utils.lab.ranking); one with a trial
stopped early lost. Every trial's record, finished or stopped, joins results/<NN>_search.json as it ends (written by
this process only), so an interrupted search keeps what it did; the same command again runs every trial anew and
replaces them (a search under another command is another search; a former name of the same command is the same). Ray
is started inside this command, or the trials go to the cluster at --address. The winner is judged on the test set
once, by the runner (`python -m utils.lab.series run STEM --seeds 0-9` after making it the notebook's recipe).
"""
import argparse
import statistics
import sys
import time

from utils.experiment import same_experiment
from utils.lab import tuning
from utils.lab.candidates import SEARCHES
from utils.lab.cli import ALLOW_DIRTY_HELP, RequestError, current_command, parse_seeds, refuse_uncommitted, resolve
from utils.lab.publish import publish_section, refresh_published
from utils.lab.ranking import by_candidate, finished, rank_agreement, ranking, ranks, search_cost, search_table
from utils.lab.scale import Resources, SchedulingError, add_arguments, connect, resources_from
from utils.lab.store import add_trial_record
from utils.lab.tuning import GRACE_EPOCHS, SCHEDULERS, make_scheduler, replay, search_trials
from utils.lab.variants import VariantPlan
from utils.metrics import min_last
from utils.mnist import ensure_mnist, part_files
from utils.project import ROOT
from utils.provenance import announced, command_line
from utils.recipes import escape
from utils.results import ablation_path, device_kind, records_in, search_path, seeds_paths


def search_plan(stem):
    """Notebook `stem`'s search: its candidates as variants of a base evaluated on the validation split."""
    if stem not in SEARCHES:
        raise RequestError(f"no search for {stem}; searches: {', '.join(SEARCHES)}")
    base, candidates = SEARCHES[stem]
    return VariantPlan(stem, {**base, "split": "validation"}, candidates, what="candidate")


def trial_order(names, seeds):
    """(candidate, seed) in the order trials start: seed by seed, every candidate of a seed before the next seed,
    so that the scheduler compares candidates on the same seeds early."""
    return [(name, seed) for seed in seeds for name in names]


def check_grace(grace, epochs):
    if isinstance(grace, bool) or not isinstance(grace, int) or not 1 <= grace <= epochs:
        raise RequestError(f"--grace {grace}: a whole number of epochs from 1 to {epochs}")


def cost_text(records, wall_seconds=None):
    """One line: trials started and stopped early, epochs trained of those planned, the trials' seconds."""
    cost = search_cost(records)
    saved = cost["full_epochs"] - cost["epochs"]
    return (f"{cost['trials']} trials, {cost['stopped']} stopped early; {cost['epochs']} of {cost['full_epochs']} "
            f"epochs trained ({saved} saved, {100 * saved / cost['full_epochs']:.0f} %); fit() and loading "
            f"{cost['seconds'] / 60:.1f} min summed over trials"
            + (f"; wall time {wall_seconds / 60:.1f} min" if wall_seconds is not None else ""))


def run_search(stem, seeds, names=None, scheduler="median", grace=GRACE_EPOCHS, resources=None, path=None,
               data_dir=ROOT / "data", log=print, command=None, allow_dirty=True):
    """Train every (candidate, seed) of `stem`'s search as a Tune trial under `scheduler`, adding each trial's
    record to `path` as it ends. Returns (the trials' records from this search, their errors). allow_dirty: False
    refuses uncommitted code (the command line, without --allow-dirty)."""
    plan = search_plan(stem)
    path = path or search_path(stem)
    try:
        names = plan.chosen(names)
    except ValueError as error:
        raise RequestError(str(error)) from None
    if scheduler not in SCHEDULERS:
        raise RequestError(f"--scheduler {scheduler}: one of {', '.join(SCHEDULERS)}")
    resources = (resources or Resources()).check()
    epochs = max(plan.config(name, 0).epochs for name in names)
    check_grace(grace, epochs)
    refuse_uncommitted(allow_dirty)
    from utils.lab.training import TrainingJob

    jobs = [TrainingJob(plan.config(name, seed, data_dir, "auto").to_dict(), "search", stem, name)
            for name, seed in trial_order(names, seeds)]
    ensure_mnist(data_dir, log=log, names=part_files(["train"]))  # once, here; the test files are not needed
    kept = []

    def keep(record):
        kept.append(record)
        add_trial_record(path, record)
        how = "finished" if finished(record) else f"stopped after epoch {record['epochs']}"
        log(f"{record['variant']} seed {record['seed']} {how}: validation {record['test_acc'][-1]:.2f} % "
            f"(min of last 3 {min_last(record['test_acc']):.2f} %), fit() {record['fit_seconds']:.0f} s "
            f"({record['threads']} threads)")

    log(f"{len(jobs)} trials ({len(names)} candidates x {len(seeds)} seeds) on the validation split, scheduler "
        f"{scheduler}{f' from epoch {grace}' if scheduler != 'none' else ''}; records to {path}")
    with announced(command):
        errors = search_trials(jobs, make_scheduler(scheduler, epochs, grace), resources, keep, log)
    if len(kept) + len(errors) < len(jobs):  # Ctrl-C: Tune ends the trials still out without a result
        errors.append(f"{len(jobs) - len(kept) - len(errors)} trials did not end (interrupted); the records of those "
                      "that did are kept: run the same command again for a whole search")
    for error in errors:
        log(f"FAILED: {error}")
    if kept and path == search_path(stem):
        publish_section("search", search_section())
        refresh_published()  # the provenance table counts the new records
    return kept, errors


def judged_both_ways(stem, records):
    """{candidate: (validation mean, test mean, seeds)} of the min of the last 3 epochs, for each candidate whose
    every trial finished and whose experiment (but for the split) notebook `stem`'s ablation or seeds files hold
    on the test set, over the seeds both have, on the same kind of device."""
    tested = [r for path in [ablation_path(stem), *seeds_paths(stem)] for r in records_in(path)]
    both = {}
    for name, trials in by_candidate(records).items():
        if not all(finished(r) for r in trials):
            continue
        on_test = {r["seed"]: r for r in tested if device_kind(r) == device_kind(trials[0])
                   and same_experiment({**trials[0]["config"], "split": "test", "seed": 0}, {**r["config"], "seed": 0})}
        seeds = [r["seed"] for r in trials if r["seed"] in on_test]
        if seeds:
            both[name] = (statistics.mean(min_last(r["test_acc"]) for r in trials if r["seed"] in seeds),
                          statistics.mean(min_last(on_test[seed]["test_acc"]) for seed in seeds), seeds)
    return both


def agreement_text(stem, records, titles):
    """The candidates judged both ways, side by side, and how far their two rankings agree."""
    both = judged_both_ways(stem, records)
    if len(both) < 3:  # two candidates make a ranking of one comparison: not worth a correlation
        return ""
    rho, count = rank_agreement({n: v for n, (v, _, _) in both.items()}, {n: t for n, (_, t, _) in both.items()})
    if rho is None:
        return ""
    val_rank = ranks([v for v, _, _ in both.values()])
    test_rank = ranks([t for _, t, _ in both.values()])
    rows = ["| candidate | seeds | validation: mean min(last 3) | rank | test: mean min(last 3) | rank |",
            "|---|---|---:|---:|---:|---:|"]
    for (name, (val, test, seeds)), one, two in zip(both.items(), val_rank, test_rank):
        rows.append(f"| {escape(titles.get(name, name))} | {', '.join(map(str, seeds))} | {val:.2f} % | {one:g} "
                    f"| {test:.2f} % | {two:g} |")
    best_val, best_test = max(both, key=lambda n: both[n][0]), max(both, key=lambda n: both[n][1])
    return "\n".join(rows + ["", f"Spearman's rank correlation of the two rankings: {rho:+.2f} over {count} candidates"
                                 f" (1: the same order); the best on the validation split is "
                                 f"{'also' if best_val == best_test else 'not'} the best on the test set."])


def searches(stem, path=None):
    """{(kind of device, command): its current records} of each search for `stem`'s recipe that `path` holds: one
    search is one command's trials on one kind of device (never two kinds in one table)."""
    plan = search_plan(stem)
    found = {}
    for record in plan.current(records_in(path or search_path(stem))):
        found.setdefault((device_kind(record), current_command(record["command"])), []).append(record)
    return found


def search_section():
    """results/README.md's part on searches: for each search, what it cost, its ranking and, where its candidates
    were also judged on the test set, how far the two rankings agree."""
    parts = []
    for stem in SEARCHES:
        titles = search_plan(stem).titles
        for (kind, command), records in searches(stem).items():
            parts += [f"**{stem}**, on the validation split ({kind}): `{command}`: {cost_text(records)}.", "",
                      search_table(records, titles), "", agreement_text(stem, records, titles), ""]
    return "\n".join(parts).strip() or "_No search has run yet._"


def compare_schedulers(stem, graces=(GRACE_EPOCHS,), path=None, log=print):
    """Replay the current finished trials of `stem`'s search through every scheduler (each stopping one from each
    of `graces` epochs on), one at a time in the order a search starts them; returns {(scheduler, grace): the
    records it leaves} (grace None for `none`)."""
    plan = search_plan(stem)
    whole = [records for records in searches(stem, path).values() if all(finished(r) for r in records)]
    if not whole:
        raise RequestError(f"{stem} has no search whose every trial finished to replay: run one with --scheduler "
                           "none first")
    done = max(whole, key=len)  # the largest search that ran every trial to the end
    order = {key: i for i, key in enumerate(trial_order(list(plan.variants), sorted({r["seed"] for r in done})))}
    done.sort(key=lambda r: order[r["variant"], r["seed"]])
    epochs = max(r["config"]["epochs"] for r in done)
    wanted = [(name, grace) for name in SCHEDULERS if name != "none" for grace in graces] + [("none", None)]
    import ray

    started = connect(None, log)  # one Ray for every replay
    try:
        return {(name, grace): replay(done, make_scheduler(name, epochs, grace or 1), Resources(), log)
                for name, grace in wanted}
    finally:
        if started:
            ray.shutdown()


def comparison_table(replays, titles):
    """Per scheduler: what it stopped and saved, and whether the full runs' winner is still ranked first with every
    seed finished, and how many candidates keep every seed (only those are ranked)."""
    full = replays["none", None]
    winner = ranking(full)[0]
    header = ("| scheduler | stops from epoch | trials stopped | epochs trained | trial time | winner kept "
              "| candidates ranked (of all) | candidates that lost seeds (how many) |")
    rows = [header, "|---|---:|---:|---:|---:|---|---:|---|"]
    whole = search_cost(full)
    for (name, grace), records in replays.items():
        cost, order = search_cost(records), ranking(records)
        complete = [n for n in order if all(finished(r) for r in records if r["variant"] == n)]
        lost = [f"{titles.get(n, n)} ({sum(not finished(r) for r in records if r['variant'] == n)})"
                for n in order if n not in complete]
        rows.append(f"| {name} | {grace or '–'} | {cost['stopped']} of {cost['trials']} "
                    f"| {cost['epochs']} of {whole['epochs']} ({100 * cost['epochs'] / whole['epochs']:.0f} %) "
                    f"| {cost['seconds'] / 60:.1f} of {whole['seconds'] / 60:.1f} min "
                    f"| {'yes' if complete[:1] == [winner] else 'no'} | {len(complete)} of {len(order)} "
                    f"| {escape(', '.join(lost)) or '–'} |")
    return "\n".join(rows)


def scheduler_help():
    """The schedulers' lines of utils.lab.tuning's docstring."""
    lines = tuning.__doc__.split("Schedulers", 1)[1].splitlines()[1:]
    return "\n".join(lines[:next(i for i, line in enumerate(lines) if line.startswith("`replay`"))])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m utils.lab.search", description=__doc__.splitlines()[0],
                                     epilog="The split:" + __doc__.split("The split:", 1)[1] + "\nSchedulers:\n"
                                     + scheduler_help(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", help=f"whose recipe to search for: {', '.join(SEARCHES)} (or its number)")
    parser.add_argument("--seeds", nargs="+", default=["0-4"], help="seeds of every candidate, e.g. 0-4 (default)")
    parser.add_argument("--only", nargs="+", metavar="ID",
                        help="these candidates only (ids as in utils/lab/candidates.py)")
    parser.add_argument("--scheduler", default="median", choices=SCHEDULERS,
                        help="how lagging trials are stopped: median (default: it kept the winner where asha lost "
                             "it, results/README.md), asha, or none (every trial to the end)")
    parser.add_argument("--grace", type=int, nargs="+", default=[GRACE_EPOCHS],
                        help=f"epochs every trial runs before it may be stopped (default {GRACE_EPOCHS}); "
                             "--compare-schedulers replays each scheduler with every value given")
    parser.add_argument("--table", action="store_true", help="print the ranking of each stored search and write it "
                                                             "into results/README.md; train nothing")
    parser.add_argument("--compare-schedulers", action="store_true",
                        help="replay the stored finished trials through each scheduler; train nothing")
    parser.add_argument("--allow-dirty", action="store_true", help=ALLOW_DIRTY_HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        (stem,) = resolve([args.notebook])
        plan = search_plan(stem)
        if args.compare_schedulers:
            epochs = max(plan.config(name, 0).epochs for name in plan.variants)
            for grace in args.grace:
                check_grace(grace, epochs)
            table = comparison_table(compare_schedulers(stem, args.grace), plan.titles)
            publish_section("schedulers", f"{stem}, replayed by `{command_line(['utils.lab.search', *argv])}`:\n\n"
                                          + table)
            print(table)
            return 0
        if not args.table:
            started = time.perf_counter()
            if len(args.grace) > 1:
                raise RequestError("--grace: one value for a search (several only with --compare-schedulers)")
            kept, errors = run_search(stem, parse_seeds(args.seeds), args.only, args.scheduler, args.grace[0],
                                      resources_from(args), command=command_line(["utils.lab.search", *argv]),
                                      allow_dirty=args.allow_dirty)
            print(cost_text(kept, time.perf_counter() - started) if kept else "no trial finished")
            if errors:
                return 1
    except (RequestError, SchedulingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every trial that ended is in the search's file", file=sys.stderr)
        return 130
    section = search_section()
    if args.table:
        publish_section("search", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
