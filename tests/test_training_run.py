"""One unit of work: a seeds sweep, an ablation and a bench measurement all train through utils.lab.training.train."""
import dataclasses

import pytest

from utils.lab import ablation, bench, series, training
from utils.recipes import RECIPES
from utils.results import records_in

SMOKE = dict(RECIPES["05_garam_masala"], smoke=True)


@pytest.mark.slow
def test_a_seeds_sweep_an_ablation_and_a_bench_measurement_call_the_one_train(mnist_dir, small_mnist, tmp_path,
                                                                              monkeypatch):
    calls = []
    real = training.train

    def spy(config, kind, *args, **kwargs):
        calls.append(kind)
        return real(config, kind, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)  # the one place every kind of run must pass through

    (swept,) = series.run_series(["05"], smoke=True, seeds=[4], log=lambda line: None)
    assert not swept.error and swept.record["kind"] == "sweep" and swept.record["seed"] == 4

    monkeypatch.setitem(ablation.ABLATIONS, "05_garam_masala", (SMOKE, {"base": ("base", {})}))
    path = tmp_path / "05_ablation.json"
    ablation.run_ablation("05_garam_masala", [0], path=path, data_dir=mnist_dir, log=lambda line: None)
    (ablated,) = records_in(path)
    assert ablated["kind"] == "ablation" and ablated["variant"] == "base"

    bench.recipe_cost(dataclasses.replace(small_mnist, augment={"rotate": 7.0}), repeats=1)
    assert calls == ["sweep", "ablation", "bench", "bench"]
