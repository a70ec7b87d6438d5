"""The runner: name resolution, refusals, smoke execution of every notebook, failure reporting, README tables."""
import hashlib

import pytest

from utils import series
from utils.metrics import read_json
from utils.project import GITHUB_REPO, NOTEBOOKS_DIR, REPO_URL
from utils.readme import refresh_readme


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_names_resolve_by_number_stem_or_name():
    stems = series.notebook_stems()
    assert stems[:5] == ["01_baseline", "02_batchnorm", "03_dropout", "04_param_diet", "05_garam_masala"]
    assert series.resolve(["05", "garam_masala", "01_baseline"]) == ["05_garam_masala"] * 2 + ["01_baseline"]
    with pytest.raises(series.SeriesError, match="unknown notebook '99'"):
        series.resolve(["99"])


def test_every_notebook_has_the_agreed_parameters():
    for stem in series.notebook_stems():
        assert {"epochs", "batch_size", "lr", "seed", "device", "data_dir", "smoke", "output_dir"} <= set(
            series.notebook_parameters(stem)), stem


def test_every_setup_cell_clones_the_address_set_in_utils_project():
    import nbformat

    for stem in series.notebook_stems():
        cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
        (setup,) = [c for c in cells if "setup" in c.metadata.get("tags", [])]
        assert f'REPO_URL = "{REPO_URL}"' in setup.source, stem
        assert f'os.chdir("{GITHUB_REPO.split("/")[1]}/notebooks")' in setup.source, stem


def test_parse_value_and_refusals():
    assert series.parse_value("15") == 15 and series.parse_value("0.1") == 0.1
    assert series.parse_value("True") is True and series.parse_value("cpu") == "cpu"
    with pytest.raises(series.SeriesError, match="has no parameter 'epochz'"):
        series.run(["05"], overrides={"epochz": 3})
    with pytest.raises(series.SeriesError, match="use --smoke"):
        series.run(["05"], overrides={"smoke": True})
    with pytest.raises(series.SeriesError, match="not both"):
        series.run(["05"], seeds=[0, 1], overrides={"seed": 3})


def test_smoke_run_executes_every_notebook_and_publishes_nothing(mnist_dir, capsys):
    committed = {p: digest(p) for p in NOTEBOOKS_DIR.glob("*.ipynb")}
    assert series.main(["run", "--smoke"]) == 0
    out = capsys.readouterr().out
    assert f"{len(committed)} of {len(committed)} runs succeeded" in out
    for stem in series.notebook_stems():
        record = read_json(series.RUNS_DIR / "smoke" / stem / "metrics.json")
        assert record["smoke"] is True and record["epochs"] == 1 and record["notebook"] == stem
        assert 0 <= record["test_acc"][0] <= 100
    assert {p: digest(p) for p in NOTEBOOKS_DIR.glob("*.ipynb")} == committed


def test_a_bad_parameter_fails_naming_notebook_cell_and_message(mnist_dir, capsys):
    assert series.main(["run", "03", "--smoke", "-p", "epochs", "0"]) == 1
    err = capsys.readouterr().err
    assert "[03_dropout] FAILED in cell" in err
    assert "ValueError: RunConfig.epochs=0 is not allowed: an integer from 1 to 100" in err
    assert (series.RUNS_DIR / "smoke" / "03_dropout" / "03_dropout.ipynb").is_file()  # kept for a look


def test_readme_tables_come_from_the_results(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    record = {"notebook": "05_garam_masala", "model": "garam_masala", "params": 7536, "epochs": 15, "seed": 1,
              "smoke": False, "device": "cpu", "test_acc": [99.0] * 12 + [99.41, 99.45, 99.5],
              "epoch_seconds": [10.0] * 15, "best_test_acc": 99.5, "first_epoch_at_target": 13,
              "target_reached": True}
    (results / "05_garam_masala.json").write_text(__import__("json").dumps(record))
    (results / "05_garam_masala.seeds.json").write_text(__import__("json").dumps([record, {**record, "seed": 2}]))
    (results / "06_ablation.json").write_text("[]")  # not a notebook's result: must not be read as one
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- results:begin -->\nold\n<!-- results:end -->\n<!-- seeds:begin -->\n"
                      "<!-- seeds:end -->\n<!-- colab:begin -->\n<!-- colab:end -->\nbottom\n")
    refresh_readme(readme, results)
    text = readme.read_text()
    assert "old" not in text and text.startswith("top\n") and text.endswith("bottom\n")
    assert "| 7,536 | 15 | 1 | 99.50 % | 99.41 % | 13 | yes | 10.0 | cpu |" in text
    assert "2 of 2 seeds reach the target" in text
    assert "colab.research.google.com/github/" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        refresh_readme(readme, results)
