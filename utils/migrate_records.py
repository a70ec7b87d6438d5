"""One-off: rewrite every record under results/ into the one record format (utils.report, format 2), and prove it.

  python -m utils.migrate_records [--rev REV]

Reads each results file as committed at REV (default HEAD), writes the new format into the working tree, and
checks, record by record, that every value of the old record is in the new one unchanged, under its old name or
the one it was renamed to. Fields a record never had get None and are listed in its `unknown`; nothing is guessed.
What is derived, and from what:
- an ablation record's full config: its `experiment` held every field that differed from RunConfig's default
  when the record was made; no experiment field's default has changed since the first ablation (git log -p
  utils/config.py), so the other fields are today's defaults. Fields of where it ran were not kept: unknown.
- an ablation record's `seconds` is `fit_seconds`: every version of utils/ablation.py timed exactly the fit() call.
- an ablation record without machine fields ran on the CPU: every version of utils/ablation.py before the machine
  fields built its configs with device="cpu".
- epochs, first_epoch_at_target (and the dropped min_last_3) follow from test_acc; the variant's id from its title.
"""
import argparse
import json
import subprocess
import sys
from dataclasses import fields

from utils.config import RunConfig
from utils.experiment import experiment_of
from utils.files import write_json
from utils.metrics import first_epoch_at_target, min_last
from utils.project import ROOT
from utils.recipes import ABLATIONS
from utils.report import RECORD_FIELDS, RECORD_FORMAT

FIELDS = RECORD_FIELDS[:-1]  # all but `unknown`
RENAMED = {"seconds": "fit_seconds"}


def committed(path, rev):
    return json.loads(subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True,
                                     check=True).stdout)


def sparse(config):
    """The experiment as the old RunConfig.experiment() wrote it: fields at their default left out."""
    defaults = experiment_of(RunConfig(model=config["model"], device="cpu").to_dict())
    return {k: v for k, v in experiment_of(config).items() if k == "model" or v != defaults[k]}


def ablation_config(experiment):
    """The full config of an ablation record, less where it ran (never kept)."""
    return {**experiment_of(RunConfig(model=experiment["model"], device="cpu").to_dict()), **experiment}


def migrate(old, kind, stem):
    new = {"format": RECORD_FORMAT, "kind": kind, "notebook": old.get("notebook", stem),
           "variant": None}
    if kind == "ablation":
        titles = {title: name for name, (title, _) in ABLATIONS[stem][1].items()}
        new.update(variant=titles[old["variant"]], model=old["experiment"]["model"], epochs=len(old["test_acc"]),
                   smoke=False, device=old.get("device", "cpu"), config=ablation_config(old["experiment"]),
                   first_epoch_at_target=first_epoch_at_target(old["test_acc"]))
    for key, value in old.items():
        if key not in ("variant", "experiment", "min_last_3"):
            new[RENAMED.get(key, key)] = value
    unknown = [name for name in FIELDS if name not in new]
    unknown += [f"config.{f.name}" for f in fields(RunConfig) if f.name not in new["config"]]
    new.update({name: None for name in FIELDS if name not in new})
    ordered = {name: new[name] for name in FIELDS}
    extra = {k: v for k, v in new.items() if k not in FIELDS}  # model_sha256, where a model was kept
    return {**ordered, **extra, "unknown": unknown}


def prove(old, new, stem):
    """Every value of `old` is in `new` unchanged (or follows from it exactly); raises AssertionError if not."""
    for key, value in old.items():
        if key == "variant":
            assert ABLATIONS[stem][1][new["variant"]][0] == value
        elif key == "experiment":
            assert sparse(new["config"]) == value, (stem, old["variant"], old["seed"])
        elif key == "min_last_3":
            assert min_last(new["test_acc"]) == value
        else:
            assert new[RENAMED.get(key, key)] == value, (stem, key)
    assert new["epochs"] == len(new["test_acc"]) and new["first_epoch_at_target"] == first_epoch_at_target(
        new["test_acc"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD")
    args = parser.parse_args(argv)
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{args.rev}:results"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in [n for n in names if n.endswith(".json")]:
        data = committed(f"results/{name}", args.rev)
        stem = next(s for s in ABLATIONS if s[:2] == name[:2]) if name.endswith("_ablation.json") else name[:name.index(".")]
        kind = "ablation" if name.endswith("_ablation.json") else "sweep" if name.endswith(".seeds.json") else "notebook"
        records = data if isinstance(data, list) else [data]
        migrated = [migrate(old, kind, stem) for old in records]
        for old, new in zip(records, migrated):
            prove(old, new, stem)
        write_json(migrated if isinstance(data, list) else migrated[0], ROOT / "results" / name)
        unknown = sorted({field for r in migrated for field in r["unknown"]})
        print(f"results/{name}: {len(migrated)} records, every old value kept; unknown: {', '.join(unknown) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
