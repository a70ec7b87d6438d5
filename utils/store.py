"""The results store: every file under results/, what each holds, adding records, and which records are current.

  results/<stem>.json               the published run of notebook <stem> (one record); its model: results/<stem>.pt
  results/<stem>.seeds.json         notebook <stem>'s recipe over seeds: one recipe on one kind of device
  results/<stem>.<label>.seeds.json another recipe of that notebook over seeds, kept for comparison
  results/<NN>_ablation.json        the ablation of notebook NN's recipe: records of every variant and seed
  results/<NN>_search.json          the searches for notebook NN's recipe: a record per trial (candidate and
                                    seed) of each search command, on the validation split, finished or stopped
  results/<stem>.bench.json         the speedrun's measurement (utils.speedrun): one command's alternating runs

Every file holds records of one format (utils.report.metrics_record). Records are added under one lock per file
(utils.files.update_json), so commands adding to one file at once lose none. A record is current for a request
when its full config is the same experiment as the requested one (utils.experiment) and, where the request names
one (a seeds sweep), on the same kind of device.

Standard library only: the runner and the README tools read the store without torch.
"""
from utils.experiment import same_experiment
from utils.files import atomic_copy, read_json, update_json, write_json
from utils.project import RESULTS_DIR, notebook_stems

SEEDS_SUFFIX = ".seeds.json"


def single_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.json"


def model_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.pt"


def seeds_path(stem, label=None, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}{'.' + label if label else ''}{SEEDS_SUFFIX}"


def ablation_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem[:2]}_ablation.json"  # results/06_ablation.json for 06_smallest


def search_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem[:2]}_search.json"  # results/07_search.json for 07_speedrun


def bench_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.bench.json"


def seeds_paths(stem, results_dir=None):
    """Notebook `stem`'s seeds files: its recipe's, then its other recipes' (by label)."""
    results_dir = results_dir or RESULTS_DIR
    return [seeds_path(stem, results_dir=results_dir), *sorted(results_dir.glob(f"{stem}.*{SEEDS_SUFFIX}"))]


def records_in(path):
    """The records a results file holds, as a list (a single run's file holds one); none when it is absent."""
    if not path.is_file():
        return []
    data = read_json(path)
    return data if isinstance(data, list) else [data]


def result_files(results_dir=None):
    """Every records file of the store: singles, seeds, ablations, searches, then benches, each in notebook order."""
    results_dir = results_dir or RESULTS_DIR
    stems = notebook_stems()
    singles = [single_path(s, results_dir) for s in stems]
    seeds = [path for s in stems for path in seeds_paths(s, results_dir)]
    ablations = sorted({ablation_path(s, results_dir) for s in stems})
    searches = sorted({search_path(s, results_dir) for s in stems})
    benches = [bench_path(s, results_dir) for s in stems]
    return [path for path in singles + seeds + ablations + searches + benches if path.is_file()]


def seeds_label(stem, path):
    """A seeds file's title: the stem, and for another recipe its label ('05_garam_masala (first recipe)')."""
    label = path.name[len(stem) + 1:-len(SEEDS_SUFFIX)]
    return f"{stem} ({label.replace('-', ' ')})" if label else stem


def seeds_files(results_dir=None):
    """{title: records} of every non-empty seeds file: the notebook's recipe first, then its other recipes."""
    found = {seeds_label(stem, path): records_in(path) for stem in notebook_stems()
             for path in seeds_paths(stem, results_dir)}
    return {title: records for title, records in found.items() if records}


def device_kind(record):
    """'cpu' or 'cuda' (or None, where a record never said): runs of two kinds never share a table."""
    return str(record["device"]).split(":")[0] if record.get("device") else None


def is_current(record, config, device=None):
    """Whether `record` is a run of `config` (a config dict) as today's code defines it, on `device`'s kind when
    given: the same experiment, field by field (utils.experiment.same_experiment)."""
    return (device is None or device_kind(record) == device.split(":")[0]) and same_experiment(record["config"],
                                                                                                  config)


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
    that ran the search (a search under another scheduler is another search; the same command again replaces it)."""
    return same_run(one, other) and one["command"] == other["command"] and device_kind(one) == device_kind(other)


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
    """Make `records` (one command's measurement, whole) the contents of results/<stem>.bench.json."""
    write_json(list(records), bench_path(stem, results_dir))


def publish_single(stem, record, model_file, results_dir=None):
    """Make a run the published one of notebook `stem`: its model (whose SHA-256 the record holds) and record."""
    atomic_copy(model_file, model_path(stem, results_dir))
    write_json(record, single_path(stem, results_dir))
