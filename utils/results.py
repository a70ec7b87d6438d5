"""A read-only view of results/: where each kind of record lives, the records a file holds, the seeds tables' files,
which records are runs of a config as today's code defines it, and the tables the lab publishes in results/README.md.

  results/<stem>.json               the published run of notebook <stem> (one record); its model: results/<stem>.pt
  results/<stem>.seeds.json         notebook <stem>'s recipe over seeds: one recipe on one kind of device
  results/<stem>.<label>.seeds.json another recipe of that notebook over seeds, kept for comparison
  results/<NN>_ablation.json        the ablation of notebook NN's recipe: records of every variant and seed
  results/<NN>_search.json          the searches for notebook NN's recipe: a record per trial (candidate and
                                    seed) of each search command, on the validation split, finished or stopped
  results/<stem>.bench.json         the speedrun's measurement: one command's alternating runs
  results/<stem>.validation.json    notebook <stem>'s recipe trained on the validation split's 50,000 images (one
                                    record); its model, results/<stem>.validation.pt, teaches a taught net's search
  results/chosen_on.json            what each recipe over seeds was chosen on (a seeds table's title: the search or
                                    the judgements), where "the test set, before the validation split" does not say it
  results/README.md                 where the numbers come from; its generated sections (ablation tables, the
                                    speedrun's ratio, ...) are rebuilt by the lab from the files above

Every records file holds records of one format (utils.report.metrics_record), written by the lab alone
(utils.lab.store); chosen_on.json is the one file of another kind, written by hand.
Standard library only: the runner and the README tools read the store without torch.
"""
import re

from utils.experiment import same_experiment
from utils.files import read_json
from utils.project import RESULTS_DIR, RESULTS_README, notebook_stems

SEEDS_SUFFIX = ".seeds.json"
CHOSEN_ON_FILE = "chosen_on.json"


def single_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.json"


def model_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.pt"


def validation_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.validation.json"


def validation_model_path(stem, results_dir=None):
    return (results_dir or RESULTS_DIR) / f"{stem}.validation.pt"


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
    """Every records file of the store: singles (a notebook's published run, then its recipe trained on the
    validation split, where a search's teacher is), seeds, ablations, searches, then benches, each in notebook
    order."""
    results_dir = results_dir or RESULTS_DIR
    stems = notebook_stems()
    singles = [path(s, results_dir) for s in stems for path in (single_path, validation_path)]
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


def ablation_section(stem):
    """The name of notebook `stem`'s ablation table in results/README.md ('ablation-05')."""
    return f"ablation-{stem[:2]}"


def section_pattern(name):
    """The generated section `name` of a README: (its begin marker line)(its body)(its end marker)."""
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)", re.DOTALL)


def published_section(name, results_readme=None):
    """The body of results/README.md's generated section `name` (between <!-- NAME:begin --> and <!-- NAME:end -->):
    a table the lab rebuilt from the records when they last changed."""
    results_readme = results_readme or RESULTS_README
    found = section_pattern(name).search(results_readme.read_text(encoding="utf-8"))
    if not found:
        raise ValueError(f"{results_readme} has no section {name!r} (<!-- {name}:begin --> ... <!-- {name}:end -->)")
    return found.group(2).strip()


def chosen_on(title, results_dir=None):
    """What the recipe of seeds table `title` was chosen on (results/chosen_on.json): every recipe made before the
    validation split existed was chosen by test accuracies."""
    path = (results_dir or RESULTS_DIR) / CHOSEN_ON_FILE
    return (read_json(path) if path.is_file() else {}).get(title, "the test set (before the validation split existed)")
