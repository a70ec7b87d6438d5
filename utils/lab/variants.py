"""Variants of a base recipe by id, each trained over seeds: the config of each (variant, seed) run, and which
records are current.

An ablation's variants are data in utils.lab.ablation_plans.ABLATIONS; `python -m utils.lab.ablation` runs them, and
results/README.md shows their table (utils.lab.tables.ablation_table) from the records this module loads. A search's
candidates are a VariantPlan too (utils.lab.search.search_plan, on the validation split).
"""
from dataclasses import dataclass

from utils.config import RunConfig
from utils.lab.ablation_plans import ABLATIONS
from utils.results import ablation_path, is_current, records_in


@dataclass(frozen=True)
class VariantPlan:
    """A base and its variants by id: an ablation's variants, or a search's candidates (`what` names them)."""

    stem: str
    base: dict  # the RunConfig fields every variant changes
    variants: dict  # {id: (title, RunConfig changes)}, in table order
    what: str = "variant"  # what the errors call one: 'variant' or 'candidate'

    @property
    def titles(self):
        """{id: title}, in table order."""
        return {name: title for name, (title, _) in self.variants.items()}

    def chosen(self, names):
        """The ids `names` (each once, in order; all when none), or ValueError naming the unknown ones."""
        names = list(dict.fromkeys(names or self.variants))
        unknown = sorted(set(names) - set(self.variants))
        if unknown:
            raise ValueError(f"unknown {self.what}(s) {', '.join(unknown)} of {self.stem}; known: "
                             f"{', '.join(self.variants)}")
        return names

    def config(self, name, seed, data_dir="data", device="cpu"):
        """The RunConfig of one (variant, seed) run."""
        if name not in self.variants:
            raise ValueError(f"unknown {self.what} {name!r} of {self.stem}; known: {', '.join(self.variants)}")
        return RunConfig(**{**self.base, **self.variants[name][1]}, seed=seed, device=device, data_dir=str(data_dir))

    def current(self, records):
        """The records that are runs of their variant as the plan defines it now (the same experiment)."""
        return [r for r in records if r.get("variant") in self.variants
                and is_current(r, self.config(r["variant"], r["seed"]).to_dict())]


def ablation(stem):
    """Notebook `stem`'s ablation."""
    if stem not in ABLATIONS:
        raise ValueError(f"no ablation for {stem!r}; ablations: {', '.join(ABLATIONS)}")
    base, variants = ABLATIONS[stem]
    return VariantPlan(stem, base, variants)


def load_ablation(stem, path=None):
    """The current records of notebook `stem`'s ablation; none when it has not run yet."""
    return ablation(stem).current(records_in(path or ablation_path(stem)))
