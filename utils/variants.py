"""An ablation's data side: the config of each (variant, seed) run, and which stored records still count.

The variants themselves are data in utils.recipes.ABLATIONS; `python -m utils.ablation` runs them and a notebook
shows their table (utils.tables.ablation_table) from the records this module loads.
"""
from utils.config import RunConfig
from utils.files import read_json
from utils.project import RESULTS_DIR
from utils.recipes import ABLATIONS


def ablation_path(stem):
    """Where the ablation records of notebook `stem` are kept."""
    return RESULTS_DIR / f"{stem[:2]}_ablation.json"  # results/06_ablation.json for 06_smallest


def variants(stem):
    """(base, {variant name: RunConfig changes}) of notebook `stem`'s ablation."""
    if stem not in ABLATIONS:
        raise ValueError(f"no ablation for {stem!r}; ablations: {', '.join(ABLATIONS)}")
    return ABLATIONS[stem]


def variant_config(stem, name, seed, data_dir="data", device="cpu"):
    """The RunConfig of one (variant, seed) run."""
    base, changes = variants(stem)
    if name not in changes:
        raise ValueError(f"unknown variant {name!r} of {stem}; known: {list(changes)}")
    return RunConfig(**{**base, **changes[name]}, seed=seed, device=device, data_dir=str(data_dir))


def current_records(stem, records):
    """The records that still describe their variant as ABLATIONS defines it now (the same experiment)."""
    _, changes = variants(stem)
    return [r for r in records if r.get("variant") in changes and "experiment" in r
            and r["experiment"] == variant_config(stem, r["variant"], r["seed"]).experiment()]


def load_ablation(stem, path=None):
    """The current records of notebook `stem`'s ablation; none when it has not run yet."""
    path = path or ablation_path(stem)
    return current_records(stem, read_json(path)) if path.is_file() else []
