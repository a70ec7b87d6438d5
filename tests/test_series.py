"""The runner: name resolution, refusals, smoke execution of every notebook, failure reporting, README tables."""
import hashlib
import json

import nbformat
import pytest
import torch

from utils.config import RunConfig
from utils.data import SMOKE_TEST_SAMPLES, load_mnist
from utils.engine import evaluate
from utils.experiment import experiment_of
from utils.lab import series
from utils.lab.execute import execute
from utils.lab.readme import refresh_readme
from utils.lab.training import train
from utils.project import (GITHUB_REPO, NOTEBOOKS_DIR, README, REPO_URL, RESULTS_README, ROOT, RUNS_DIR,
                           notebook_stems)
from utils.recipes import RECIPES
from utils.report import load_run_model
from utils.results import published_section
from utils.tables import epoch_times, seeds_table

PER_EPOCH = ("train_loss", "train_acc", "test_loss", "test_acc", "lr")


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_names_resolve_by_number_stem_or_name():
    stems = series.notebook_stems()
    assert stems[:5] == ["01_baseline", "02_batchnorm", "03_dropout", "04_param_diet", "05_garam_masala"]
    assert series.resolve(["05", "garam_masala", "01_baseline"]) == ["05_garam_masala", "01_baseline"]  # once each
    with pytest.raises(series.RequestError, match="unknown notebook '99'"):
        series.resolve(["99"])


def test_every_notebook_has_the_agreed_parameters():
    for stem in series.notebook_stems():
        assert {"epochs", "batch_size", "lr", "seed", "device", "data_dir", "smoke", "output_dir"} <= set(
            series.notebook_parameters(stem)), stem


def cell_tagged(cells, tag):
    (cell,) = [c for c in cells if tag in c.metadata.get("tags", [])]
    return cell


def test_every_notebook_trains_exactly_its_recipe():
    """Run each notebook's parameters cell and the config cell after it: the config is the recipe's."""
    assert sorted(RECIPES) == notebook_stems()
    for stem in notebook_stems():
        cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
        parameters = cell_tagged(cells, "parameters")
        config_cell = next(c for c in cells if c.cell_type == "code" and "config = " in c.source)
        namespace = {"RunConfig": RunConfig}
        exec(parameters.source, namespace)
        exec(config_cell.source, namespace)
        assert namespace["NOTEBOOK"] == stem
        expected = RunConfig.from_recipe(stem, seed=namespace["seed"], data_dir=namespace["data_dir"])
        assert namespace["config"].experiment() == expected.experiment(), stem


def test_the_github_workflow_runs_the_ci_script():
    workflow = (NOTEBOOKS_DIR.parent / ".github" / "workflows" / "ci.yml").read_text()
    assert "run: bash .ci/run" in workflow and "push:" in workflow


def test_every_setup_cell_clones_the_address_set_in_utils_project():
    for stem in series.notebook_stems():
        cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
        setup = cell_tagged(cells, "setup")
        assert f'REPO_URL = "{REPO_URL}"' in setup.source, stem
        assert f'os.chdir("{GITHUB_REPO.split("/")[1]}/notebooks")' in setup.source, stem


def test_seeds_come_as_ranges_or_lists():
    assert series.parse_seeds(["0-9"]) == list(range(10))
    assert series.parse_seeds(["0", "3", "7-8"]) == [0, 3, 7, 8]
    for bad in (["9-0"], ["a"], ["1", "0-2"], ["-3"]):
        with pytest.raises(series.RequestError, match="--seeds"):
            series.parse_seeds(bad)


def test_parse_value_and_refusals():
    assert series.parse_value("15") == 15 and series.parse_value("0.1") == 0.1
    assert series.parse_value("True") is True and series.parse_value("cpu") == "cpu"
    with pytest.raises(series.RequestError, match="has no parameter 'epochz'"):
        series.run_series(["05"], overrides={"epochz": 3})
    with pytest.raises(series.RequestError, match="-p smoke: the runner sets smoke itself: use --smoke"):
        series.run_series(["05"], overrides={"smoke": True})
    with pytest.raises(series.RequestError, match="every run gets its own folder under runs/"):
        series.run_series(["05"], overrides={"output_dir": "/tmp/out"})
    with pytest.raises(series.RequestError, match="not both"):
        series.run_series(["05"], seeds=[0, 1], overrides={"seed": 3})


@pytest.mark.slow
def test_smoke_run_executes_every_notebook_keeps_each_model_and_publishes_nothing(mnist_dir):
    """... and each notebook's steps, cell by cell, give the numbers of utils.lab.training.train with the same
    config."""
    committed = {p: digest(p) for p in NOTEBOOKS_DIR.parent.glob("[nr]*s/*.*")}  # notebooks/ and results/
    threads = torch.get_num_threads()
    outcomes = series.run_series(smoke=True, overrides={"epochs": 1}, log=lambda line: None,
                          command="python -m utils.lab.series run --smoke -p epochs 1")
    assert [o.stem for o in outcomes] == notebook_stems() and not any(o.error for o in outcomes)
    for outcome in outcomes:
        record, folder = outcome.record, outcome.notebook.parent
        assert folder.parent == RUNS_DIR / "smoke" / outcome.stem  # a folder of its own
        assert json.loads((folder / "metrics.json").read_text()) == record
        assert record["smoke"] is True and record["epochs"] == 1 and record["notebook"] == outcome.stem
        assert record["cpu_capability"] and record["threads"] >= 1 and record["torch"]
        # the saved model is the one that was evaluated: it scores the recorded accuracy to the last digit
        assert hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest() == record["model_sha256"]
        model, config = load_run_model(folder / "model.pt")
        data = load_mnist(mnist_dir, train_samples=1, test_samples=SMOKE_TEST_SAMPLES)
        assert evaluate(model, data.test_images, data.test_labels)["acc"] == record["test_acc"][-1], outcome.stem
        assert config.experiment() == RunConfig(**record["config"]).experiment()
        assert record["format"] == 2 and record["kind"] == "notebook" and record["code"]["utils_sha256"]
        assert record["command"] == "python -m utils.lab.series run --smoke -p epochs 1"  # the runner's, via the kernel
        torch.set_num_threads(record["threads"])  # the kernel's: the thread count moves the last digits
        try:
            direct = train(RunConfig.from_recipe(outcome.stem, epochs=1, smoke=True, device="cpu",
                                                 data_dir=str(mnist_dir)), "notebook", outcome.stem).record
        finally:
            torch.set_num_threads(threads)
        assert {k: direct[k] for k in PER_EPOCH} == {k: record[k] for k in PER_EPOCH}, outcome.stem
        assert experiment_of(direct["config"]) == experiment_of(record["config"])
    assert {p: digest(p) for p in NOTEBOOKS_DIR.parent.glob("[nr]*s/*.*")} == committed


@pytest.mark.slow
def test_the_command_line_reports_how_many_runs_succeeded(mnist_dir, capsys):
    assert series.main(["run", "01", "--smoke"]) == 0
    assert "1 of 1 runs succeeded" in capsys.readouterr().out


def test_a_failing_execution_is_named_by_notebook_cell_and_message(mnist_dir, tmp_path):
    """The runner refuses a bad -p value before running (tests/test_notebooks.py); a notebook that fails anyway (here
    given a bad value past the runner) is reported, not raised, and its partly executed copy kept for a look."""
    lines = []
    outcome = execute("03_dropout", {"epochs": 0, "smoke": True, "output_dir": str(tmp_path)}, tmp_path, 600,
                      lines.append)
    assert outcome.record is None and outcome.error == lines[-1]
    assert "[03_dropout] FAILED in cell" in outcome.error
    assert "ConfigError: RunConfig.epochs=0 is not allowed: an integer from 1 to 100" in outcome.error
    kept = outcome.error.split("partly executed notebook kept at ")[1].split()[0]
    assert (ROOT / kept).resolve() == tmp_path / "03_dropout.ipynb" and nbformat.read(ROOT / kept, as_version=4).cells


def test_readme_tables_come_from_the_results(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    record = {"notebook": "05_garam_masala", "model": "garam_masala", "params": 7536, "epochs": 15, "seed": 1,
              "smoke": False, "device": "cpu", "gpu": None, "cpu_capability": None, "threads": 2,
              "test_acc": [99.0] * 12 + [99.41, 99.45, 99.5], "epoch_seconds": [10.0] * 15, "fit_seconds": None,
              "best_test_acc": 99.5, "first_epoch_at_target": 13, "target_reached": True, "command": None,
              "code": None}
    (results / "05_garam_masala.json").write_text(json.dumps(record))
    (results / "05_garam_masala.seeds.json").write_text(json.dumps([record, {**record, "seed": 2}]))
    missed = {**record, "seed": 0, "test_acc": [99.0] * 12 + [99.38, 99.45, 99.5], "target_reached": False,
              "first_epoch_at_target": 14}
    (results / "05_garam_masala.first-recipe.seeds.json").write_text(json.dumps([missed, record]))
    ablation = {**record, "variant": "base", "command": "python -m utils.ablation 05 --seeds 0",  # its old name
                "code": {"commit": "abcdef0123", "dirty": True, "utils_sha256": "feed"},
                "config": RunConfig.from_recipe("05_garam_masala", seed=1).to_dict(), "best_test_acc": 99.5}
    (results / "05_ablation.json").write_text(json.dumps([ablation]))  # not a notebook's result: not read as one
    readme, results_readme = tmp_path / "README.md", results / "README.md"
    readme.write_text("top\n<!-- results:begin -->\nold\n<!-- results:end -->\n<!-- colab:begin -->\n"
                      "<!-- colab:end -->\nbottom\n")
    results_readme.write_text("top\n<!-- seeds:begin -->\nold\n<!-- seeds:end -->\n<!-- provenance:begin -->\n"
                              "<!-- provenance:end -->\n<!-- speedrun:begin -->\n<!-- speedrun:end -->\n"
                              + "".join(f"<!-- ablation-{nn}:begin -->\n<!-- ablation-{nn}:end -->\n"
                                        for nn in ("05", "06", "07", "08")) + "bottom\n")
    refresh_readme(readme, results_readme, results, tmp_path)
    guide, text = readme.read_text(), results_readme.read_text()
    for written in (guide, text):
        assert "old" not in written and written.startswith("top\n") and written.endswith("bottom\n")
    assert "_No speedrun measurement yet: `python -m utils.lab.bench --speedrun`._" in text  # no bench file here
    assert "| 7,536 | 15 | 1 | 99.50 % | 99.41 % | 13 | yes | 10.0 | cpu ? ×2 | unknown |" in guide
    assert guide.count("| 7,536 |") == 1  # the ablation's record is not a published run
    assert ("**05_garam_masala**, `garam_masala`, 7,536 parameters, 15 epochs, cpu ? ×2, code unknown: 2 of 2 "
            "seeds reach the target (≥ 99.4 % in each of the last 3 epochs); min of the last 3: mean 99.41 ± 0.00 % "
            "(sd), lowest 99.41 %; first epoch ≥ 99.4 %: median 13.") in text
    assert "**05_garam_masala (first recipe)**" in text and "1 of 2 seeds reach" in text
    assert "lowest 99.38 %; first epoch ≥ 99.4 %: median 13.5." in text
    assert text.index("**05_garam_masala**") < text.index("**05_garam_masala (first recipe)**")
    assert "| `results/05_garam_masala.json` | 1 | `unknown` | unknown | cpu ? ×2 |" in text
    assert ("| `results/05_ablation.json` | 1 | `python -m utils.lab.ablation 05 --seeds 0` | abcdef0+ | cpu ? ×2 |"
            in text)  # the command under today's name
    assert published_section("ablation-05", results_readme).splitlines()[2].startswith(
        "| base | 7,536 | 1 | 99.41 % | 99.41 % | 99.50 % | 1/1 | +0.00 |")  # the ablation's current record
    assert published_section("ablation-06", results_readme) == (
        "_No ablation runs yet: `python -m utils.lab.ablation 06 --seeds 0-4`._")
    assert "colab.research.google.com/github/" in guide
    assert f"[![CI](https://github.com/{GITHUB_REPO}/actions/workflows/ci.yml/badge.svg)]" in guide
    assert (tmp_path / "seeds.png").read_bytes()[:4] == b"\x89PNG"
    results_readme.write_text("top\n<!-- seeds:begin -->\n<!-- seeds:end -->\n")  # no provenance markers
    with pytest.raises(ValueError, match=r"README\.md has no <!-- provenance:begin -->"):
        refresh_readme(readme, results_readme, results, tmp_path)
    assert readme.read_text() == guide  # nothing written when a file lacks its markers


def test_seeds_tables_give_the_time_once_runs_are_timed():
    def record(seed, fit_seconds, reached=True):
        return {"seed": seed, "model": "garam_masala", "params": 7536, "epochs": 8, "device": "cpu", "threads": 2,
                "cpu_capability": "AVX2", "test_acc": [99.0] * 5 + [99.41, 99.45, 99.5], "best_test_acc": 99.5,
                "first_epoch_at_target": 6, "target_reached": reached, "fit_seconds": fit_seconds,
                "load_seconds": 0.4, "epoch_seconds": [9.0] * 8, "eval_seconds": [1.0] * 8, "gpu": None,
                "code": None}

    held = seeds_table("07", [record(0, 70.0), record(1, 80.0), record(2, 75.0)])
    assert ("Time to a target-holding run (`fit()`'s wall time): median 75.0 s over 3 seeds (70.0–80.0 s; "
            "loading MNIST apart, median 0.4 s).") in held
    assert held.splitlines()[-1] == "| 2 | 99.50 % | 99.41 % | 99.50 % | 6 | yes | 75.0 |"
    missed = seeds_table("07", [record(0, 70.0), record(1, 80.0, reached=False)])
    assert "not yet a time to a target-holding run: 1 of 2 held the target." in missed
    untimed = seeds_table("05", [{**record(0, None), "fit_seconds": None}])
    assert "wall time" not in untimed and "fit() s" not in untimed  # records that never had it: no time column
    times = epoch_times(record(0, 73.5))
    assert "| 1 | 8.00 | 1.00 | 9.00 |" in times and "| all | 64.00 | 8.00 | 72.00 |" in times
    assert "`fit()` took 73.50 s: the epochs, and 1.50 s to set up" in times


def test_the_committed_readmes_generated_sections_are_what_the_store_gives_now(tmp_path):
    """Both files, every section the store gives; results/README.md is also linked from the guide."""
    readme, results_readme = tmp_path / "README.md", tmp_path / "results.md"
    readme.write_text(README.read_text())
    results_readme.write_text(RESULTS_README.read_text())
    refresh_readme(readme, results_readme, ROOT / "results", tmp_path)
    assert readme.read_text() == README.read_text()
    assert results_readme.read_text() == RESULTS_README.read_text()
    assert "(results/README.md)" in README.read_text()


def test_the_readme_is_a_guide_of_at_most_300_lines():
    assert len(README.read_text().splitlines()) <= 300
