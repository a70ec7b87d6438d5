"""The store's write side: adding records to the files under results/ (utils.results names them and says which are
current), one lock per file, and which records one replaces.

Records are added under one lock per file (utils.files.update_json), so commands adding to one file at once lose
none.

Standard library only: the runner and the README tools write the store without torch.
"""
from utils.experiment import same_experiment
from utils.lab.cli import current_command
from utils.files import atomic_copy, update_json, write_json
from utils.provenance import machine_short
from utils.results import (bench_path, device_kind, model_path, seeds_path, single_path, validation_model_path,
                           validation_path)


def same_recipe(one, other):
    """Two records of one recipe on one kind of device: the same experiment but for the seed."""
    return device_kind(one) == device_kind(other) and same_experiment({**one["config"], "seed": 0},
                                                                      {**other["config"], "seed": 0})


def add_records(path, records, replaces):
    """Add `records` to the file at `path` under its lock; a stored record that replaces(stored, new) says is the
    same run goes. Returns the file's records afterwards (another command may have added some meanwhile)."""
    def add(stored):
        kept = [old for old in stored if not any(replaces(old, new) for new in records)]
        return kept + list(records)

    return update_json(path, add, default=[])


def same_run(one, other):
    """Two records of one run of an ablation or a search: variant (or candidate), seed and experiment. A later run
    on another device replaces an ablation's, as its table and its skipping count one record per variant and seed."""
    return ((one["variant"], one["seed"]) == (other["variant"], other["seed"])
            and same_experiment(one["config"], other["config"]))


def same_trial(one, other):
    """Two records of one trial of one search: the same run (same_run) on the same kind of device, by the command
    that ran the search (a search under another scheduler is another search; the same command again replaces it,
    typed under a former module name too: utils.lab.cli.current_command)."""
    return (same_run(one, other) and current_command(one["command"]) == current_command(other["command"])
            and device_kind(one) == device_kind(other))


def add_trial_record(path, record):
    """Add a search trial's record, finished or stopped early, to `path`, replacing the same trial's (same_trial).
    Returns the file's records afterwards."""
    return add_records(path, [record], same_trial)


def add_seed_record(stem, record, log, results_dir=None):
    """Put one finished seed's record into results/<stem>.seeds.json. The file is one table: records of another
    recipe or another kind of device go (git keeps the old file), and so does an older run of the same seed."""
    path = seeds_path(stem, results_dir=results_dir)

    def add(stored):
        same = [r for r in stored if same_recipe(r, record)]
        if len(same) < len(stored):
            log(f"[{stem}] {path.name}: {len(stored) - len(same)} records of another recipe or kind of device "
                f"replaced by this sweep's (one table holds one recipe on one kind of device)")
        kept = [r for r in same if r["seed"] != record["seed"]]
        return sorted(kept + [record], key=lambda r: r["seed"])

    return update_json(path, add, default=[])


def replace_bench(stem, records, results_dir=None):
    """Make `records` (one command's measurement, whole) results/<stem>.bench.json's measurement on their machine
    and kernels (utils.provenance.machine_short: 'cpu AVX2 ×2', 'cpu AVX512 ×2' or the GPU). The file keeps one
    measurement for each, so the ratio under the AVX2 settings and on the machine's own kernels stand side by side."""
    measured = {machine_short(record) for record in records}
    update_json(bench_path(stem, results_dir),
                lambda stored: [r for r in stored if machine_short(r) not in measured] + list(records), default=[])


def publish_single(stem, record, model_file, results_dir=None):
    """Make a run the published one of notebook `stem`: its model (whose SHA-256 the record holds) and record."""
    atomic_copy(model_file, model_path(stem, results_dir))
    write_json(record, single_path(stem, results_dir))


def publish_validation_run(stem, record, model_file, results_dir=None):
    """Make a run of notebook `stem`'s recipe on the validation split the one a search's teacher is: its model
    (whose SHA-256 the record holds) to results/<stem>.validation.pt, its record to results/<stem>.validation.json."""
    atomic_copy(model_file, validation_model_path(stem, results_dir))
    write_json(record, validation_path(stem, results_dir))
