"""The notebooks as people meet them: any knob, Run All in Jupyter, clean published copies, Colab, resume."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import nbformat
import papermill
import pytest
import torch
from IPython.display import Markdown
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from utils.config import ConfigError, RunConfig
from utils.data import mnist
from utils.engine import build_model, fit, is_evaluated
from utils.files import read_json
from utils.lab import series
from utils.metrics import BAR_AT_TARGET, BAR_MEAN
from utils.project import GITHUB_REPO, NOTEBOOKS_DIR, ROOT, notebook_stems
from utils.recipes import INGREDIENTS, RECIPES, recipe_table
from utils.report import result_text
from utils.results import ablation_path, records_in, single_path

PER_EPOCH = ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "train_clean_acc")
MACHINE_PATHS = ("/work/", "/root/", "/home/", "/tmp/", "/Users/", "C:\\\\")


def git_status():
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def with_parameters(stem, **values):
    """The notebook with its parameters cell changed as a user would edit it: `name = value` lines replaced."""
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    lines = cell.source.splitlines()
    for name, value in values.items():
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{name} = ")]
        lines[index] = f"{name} = {value!r}  # changed by the test"
    cell.source = "\n".join(lines)
    return notebook


@pytest.mark.parametrize("stem", notebook_stems())
def test_every_knob_in_range_gives_a_valid_config_and_the_rule_between_knobs_holds(stem):
    for epochs in range(1, 16):
        config = RunConfig.from_recipe(stem, epochs=epochs, device="cpu")
        assert config.clean_epochs == min(RECIPES[stem].get("clean_epochs", 0), epochs)
    for knobs in ({"batch_size": 1}, {"batch_size": 60000}, {"lr": 1e-4}, {"lr": 1.0}, {"seed": 0},
                  {"seed": 2**32 - 1}, {"device": "auto"}, {"device": "cpu"}):
        RunConfig.from_recipe(stem, **knobs)
    with pytest.raises(ConfigError, match=r"^RunConfig\.epochs=0 is not allowed"):
        RunConfig.from_recipe(stem, epochs=0)


@pytest.mark.parametrize("stem", ["05_garam_masala", "07_speedrun"])
def test_a_run_shorter_than_the_recipes_clean_epochs_trains(stem, small_mnist):
    config = RunConfig.from_recipe(stem, epochs=2, device="cpu")
    history = fit(build_model(config), small_mnist, config, progress="none")
    assert len(history.test_acc) == 2


def code_apart_from_its_name(stem):
    """A notebook's code cells with its `NOTEBOOK = "<stem>"` line and its example change to judge set aside: 01-04
    are one code with four names."""
    cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
    return [re.sub(r"(?m)^judge_changes = .*$", "judge_changes = ...", c.source.replace(f'NOTEBOOK = "{stem}"',
                                                                                          "NOTEBOOK = ..."))
            for c in cells if c.cell_type == "code"]


def one_notebook_per_code():
    """The first notebook of each distinct code (the runner's smoke test executes every one of them)."""
    firsts = {}
    for stem in notebook_stems():
        firsts.setdefault("\n".join(code_apart_from_its_name(stem)), stem)
    return list(firsts.values())


def test_notebooks_of_one_code_differ_only_in_their_name_and_recipe():
    """What lets Run All execute one notebook per code: 02-04 run 01's cells, their own recipe by name."""
    assert one_notebook_per_code() == ["01_baseline", "05_garam_masala", "06_smallest", "07_speedrun",
                                      "08_taught"]


@pytest.mark.slow
def test_run_all_as_jupyter_would_with_a_users_values_writes_nothing_tracked(mnist_dir):
    """A notebook of each code, its parameters cell edited (smoke, 2 epochs), executed top to bottom as Jupyter's
    Run All."""
    before = git_status()
    for stem in one_notebook_per_code():
        notebook = with_parameters(stem, smoke=True, epochs=2)
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
        text = "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        assert "epoch  2/2" in text and "SMOKE RUN" in text, stem
        shown = [o["data"]["text/markdown"] for o in notebook.cells[notebook.cells.index(next(
            c for c in notebook.cells if c.source.startswith("NOTEBOOK = ")))].outputs if "data" in o]
        assert shown and shown[0].startswith("| ingredient | value | what it does |"), stem  # the recipe in sight
    assert git_status() == before


def test_a_bad_value_in_the_parameters_cell_is_one_line_naming_it(mnist_dir):
    notebook = with_parameters("05_garam_masala", epochs=0)
    with pytest.raises(CellExecutionError):
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    (error,) = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert error.ename == "ConfigError"
    assert error.traceback == ["ConfigError: RunConfig.epochs=0 is not allowed: an integer from 1 to 100"]


def test_the_runner_refuses_a_bad_value_in_one_line_before_running(capsys):
    assert series.main(["run", "05", "-p", "seed", "abc"]) == 2
    assert series.main(["run", "05", "--seeds", "0-1", "-p", "lr", "-1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: 05_garam_masala: -p seed: RunConfig.seed='abc' is not allowed: an integer from 0 to "
                   "4294967295", "error: 05_garam_masala: -p lr: RunConfig.lr=-1 is not allowed: a number in (0, 10]"]


@pytest.mark.parametrize("stem", notebook_stems())
def test_a_published_notebook_holds_no_runner_residue(stem):
    text = (NOTEBOOKS_DIR / f"{stem}.ipynb").read_text()
    notebook = nbformat.reads(text, as_version=4)
    assert not [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert not {"input_path", "output_path", "parameters"} & set(notebook.metadata.get("papermill", {}))
    assert not [path for path in MACHINE_PATHS if path in text]
    assert any(c.cell_type == "markdown" and c.source.startswith("*Published run:* `python -m utils.lab.series run")
               for c in notebook.cells)


@pytest.mark.parametrize("stem", ["05_garam_masala", "06_smallest", "07_speedrun", "08_taught"])
def test_the_notebooks_that_augment_show_the_recipe_an_augmented_batch_and_the_lr_schedule(stem):
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "plot_augmentation(data)" in code and "plot_lr_schedule(lr_schedule(config" in code
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # sample digits, augmented digits, the LR schedule, the curves, misclassified digits


def test_the_recipe_table_comes_from_the_recipes_words():
    config = RunConfig.from_recipe("05_garam_masala", epochs=2, device="cpu")
    table = config._repr_markdown_()
    assert table == recipe_table(config.to_dict(), RunConfig(model="garam_masala", device="cpu").to_dict())
    assert f"| clean_epochs | 2 | {INGREDIENTS['clean_epochs']} |" in table  # the rule, where the config shows
    assert "| augment | rotation ±7° |" in table and "| label_smoothing |" not in table  # at its default: left out


def test_the_setup_cell_clones_installs_and_imports_on_colab(tmp_path):
    """As Colab runs it: google.colab importable, the notebook alone in a folder without utils/, the address of a
    clone (here: a local one of this repository, named as the real one)."""
    remote = tmp_path / "remote" / f"{GITHUB_REPO.split('/')[1]}.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(remote)], check=True)
    colab = tmp_path / "colab_stub" / "google"
    colab.mkdir(parents=True)
    (colab / "__init__.py").write_text("")
    (colab / "colab.py").write_text("# stands in for Colab's module: its presence is what the setup cell checks\n")
    content = tmp_path / "content"  # Colab's working folder: no utils/ anywhere above it
    content.mkdir()
    cells = nbformat.read(NOTEBOOKS_DIR / "05_garam_masala.ipynb", as_version=4).cells
    (setup,) = [c for c in cells if "setup" in c.metadata.get("tags", [])]
    source = "\n".join(line for line in setup.source.splitlines() if not line.startswith("%"))  # no IPython magic
    source = source.replace(f'REPO_URL = "https://github.com/{GITHUB_REPO}"', f'REPO_URL = "{remote.as_uri()}"')
    assert remote.as_uri() in source
    script = "import google.colab\n" + source + textwrap.dedent("""
        import json, os
        print(json.dumps({"cwd": os.getcwd(), "utils": sys.modules["utils.config"].__file__}))
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "colab_stub")}
    done = subprocess.run([sys.executable, "-c", script], cwd=content, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    where = json.loads(done.stdout.strip().splitlines()[-1])
    clone = content / GITHUB_REPO.split("/")[1]
    assert where["cwd"] == str(clone / "notebooks") and where["utils"] == str(clone / "utils" / "config.py")


@pytest.mark.slow
def test_resume_after_a_stop_gives_the_numbers_of_an_uninterrupted_run(mnist_dir, tmp_path):
    """05 in smoke mode (3 epochs): once straight through; once stopped after epoch 2, as a lost Colab session would
    leave it, then the notebook run again with the same checkpoint folder."""
    stem, notebook = "05_garam_masala", str(NOTEBOOKS_DIR / "05_garam_masala.ipynb")
    whole = tmp_path / "whole"
    papermill.execute_notebook(notebook, str(tmp_path / "whole.ipynb"), kernel_name="python3", cwd=str(NOTEBOOKS_DIR),
                               parameters={"smoke": True, "output_dir": str(whole)}, progress_bar=False)
    uninterrupted = json.loads((whole / "metrics.json").read_text())
    checkpoints = tmp_path / "checkpoints"
    config = RunConfig.from_recipe(stem, smoke=True, device=uninterrupted["config"]["device"], data_dir=str(mnist_dir),
                                   checkpoint_dir=str(checkpoints))
    threads = torch.get_num_threads()
    torch.set_num_threads(uninterrupted["threads"])  # the kernel's: the thread count moves the last digits
    try:
        fit(build_model(config), mnist(config), config, stop_after_epoch=2, progress="none", measure_train=True)
    finally:
        torch.set_num_threads(threads)
    resumed_dir = tmp_path / "resumed"
    papermill.execute_notebook(notebook, str(tmp_path / "resumed.ipynb"), kernel_name="python3",
                               cwd=str(NOTEBOOKS_DIR), progress_bar=False,
                               parameters={"smoke": True, "output_dir": str(resumed_dir),
                                           "checkpoint_dir": str(checkpoints)})
    resumed = json.loads((resumed_dir / "metrics.json").read_text())
    assert {k: resumed[k] for k in PER_EPOCH} == {k: uninterrupted[k] for k in PER_EPOCH}
    log = "\n".join(o.get("text", "") for c in nbformat.read(tmp_path / "resumed.ipynb", as_version=4).cells
                    if c.cell_type == "code" for o in c.outputs)
    assert "epoch  3/3" in log and "epoch  1/3" not in log  # only the epoch the stop left was trained


def test_a_notebook_runs_from_the_command_line_as_the_readme_says(mnist_dir, tmp_path):
    """`jupyter nbconvert --to notebook --execute`, the README's command, on 01 with its parameters cell edited to a
    smoke run of 1 epoch; the notebook sits in a checkout's layout (notebooks/ beside utils/ and data/)."""
    before = git_status()
    (tmp_path / "notebooks").mkdir()
    for folder in ("utils", "data"):
        (tmp_path / folder).symlink_to(ROOT / folder, target_is_directory=True)
    notebook = tmp_path / "notebooks" / "01_baseline.ipynb"
    nbformat.write(with_parameters("01_baseline", smoke=True, epochs=1), notebook)
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or shutil.which("jupyter")
    done = subprocess.run([jupyter, "nbconvert", "--to", "notebook", "--execute", str(notebook), "--output-dir",
                           str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(tmp_path / "out" / "01_baseline.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "epoch  1/1" in "\n".join(o.get("text", "") for o in outputs)
    assert git_status() == before


# Notebooks 06-08 teach; what happened when lives in results/README.md.
TEACHING = ("06_smallest", "07_speedrun", "08_taught")
KNOB_SENTENCES = (r"\b(first|last) \w+ epochs (are|were) not tested", r"no test point before epoch \d+",
                  r"\b(Result|this run)\b[^.]*\bseed \d+ with", r"\bthis run, seed \d+", r"\b(GPU|none) was lent")


def cells_of(stem):
    return nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells


def prose(stem):
    """A notebook's markdown as one line per cell: a sentence may wrap anywhere."""
    return [" ".join(c.source.split()) for c in cells_of(stem) if c.cell_type == "markdown"]


def run_cell(source, namespace):
    """Execute a code cell's source in `namespace`; the value of its last line when that is an expression."""
    tree = ast.parse(source)
    last = tree.body.pop() if isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace) if last else None


@pytest.mark.parametrize("stem", TEACHING)
def test_no_sentence_states_by_hand_what_a_knob_decides_or_how_the_project_is_run(stem):
    """Which epochs are tested depends on `epochs`, which run the Result shows on `seed`: a code cell says those."""
    text = "\n".join(prose(stem))
    assert [p for p in KNOB_SENTENCES if re.search(p, text, re.IGNORECASE)] == []


@pytest.mark.parametrize("epochs, eval_last_epochs", [(12, 3), (15, 3), (3, 3), (12, 0), (12, 5)])
def test_07_says_how_many_epochs_train_untested_as_fit_skips_them(epochs, eval_last_epochs, capsys):
    """The line under 07's schedule, computed from the knobs: the epochs before the last eval_last_epochs."""
    (cell,) = [c for c in cells_of("07_speedrun") if c.cell_type == "code" and "untested = " in c.source]
    counting = "\n".join(line for line in cell.source.splitlines() if "plot_" not in line)  # no figure needed
    config = RunConfig.from_recipe("07_speedrun", epochs=epochs, eval_last_epochs=eval_last_epochs, device="cpu")
    run_cell(counting, {"config": config, "data": mnist_stub(), "NOTEBOOK": "07_speedrun"})
    untested = epochs - eval_last_epochs if eval_last_epochs else 0
    said = capsys.readouterr().out
    assert f"tested: the last {epochs - untested} of {epochs} epochs" in said
    assert (f"the first {untested} train without a test" in said) == (untested > 0)


def mnist_stub():
    """What 07's schedule cell reads of its data: the steps per epoch."""
    return type("Data", (), {"steps_per_epoch": staticmethod(lambda batch_size: 313)})()


@pytest.mark.parametrize("stem", ["07_speedrun", "08_taught"])
def test_07_and_08_show_their_recipes_seeds_table_alone(stem):
    """The recipes judged before a notebook's, and not taken, have their tables in results/README.md."""
    import matplotlib.pyplot as plt

    (cell,) = [c for c in cells_of(stem) if c.cell_type == "code" and "seeds_files()" in c.source]
    earlier = {"NOTEBOOK": stem, "Markdown": Markdown, "GOAL_PARAMS": 3600}  # what earlier cells defined
    shown = run_cell(cell.source, earlier).data
    plt.close("all")
    assert shown.count("| seed | best test acc |") == 1 and shown.count(f"**{stem}**, `") == 1
    if stem == "08_taught":  # judged against the notebook's goal (under 3,600), as its Result and Analysis are
        assert "- **08_taught**: not met" in shown and "short on: parameters" in shown
    assert [link for link in re.findall(r"\]\(\.\./results/README\.md#([\w-]+)\)", " ".join(prose(stem)))
            if link == "every-seed"], "the notebook links the other recipes' tables"


@pytest.mark.parametrize("stem", ["06_smallest", "08_taught"])
def test_the_result_names_the_runs_target_and_the_goal_and_the_analysis_agrees(stem):
    """08's published run reaches the target while its goal (the bar under 3,600 parameters) is not reached: the
    Result prints the two apart, and the Analysis opens with what the goal line says."""

    (cell,) = [c for c in cells_of(stem) if c.cell_type == "code" and "print(result_text(record" in c.source]
    printed = []
    run_cell(cell.source, {"metrics_record": lambda *args: read_json(ROOT / "results" / f"{stem}.json"),
                           "count_parameters": lambda model: None, "result_text": result_text, "print": printed.append,
                           "save_run": lambda *args: None, **dict.fromkeys(
                               ("NOTEBOOK", "config", "history", "model", "output_dir", "curves", "wrong"))})
    lines = printed[0].splitlines()
    assert [line.split(": ")[-1] for line in lines if line.startswith("this run's target (")] == ["REACHED"]
    (goal,) = [line for line in lines if line.startswith("the notebook's goal (the bar for a small net")]
    reached = re.search(r"\): (REACHED|not reached): ", goal).group(1) == "REACHED"
    analysis = next(text for text in prose(stem) if text.startswith("## Analysis"))
    assert ("goal is not reached" in analysis[:200]) == (not reached)


@pytest.mark.parametrize("stem", ["06_smallest", "08_taught"])
def test_the_bar_a_notebook_states_is_the_one_small_net_bar_judges(stem):

    text = " ".join(prose(stem))
    means = re.findall(r"mean min of the last 3 of at least (\d+\.\d+) %", text)
    counts = re.findall(r"at least (\d+) of (?:the 10 )?seeds", text)
    assert means and counts
    assert {float(m) for m in means} == {BAR_MEAN} and {int(c) for c in counts} == {BAR_AT_TARGET}


def test_08s_ablation_says_which_net_it_measures_where_it_is_not_the_published_one():

    cells = cells_of("08_taught")
    (index,) = [i for i, c in enumerate(cells) if c.cell_type == "code" and "ablation_section(NOTEBOOK)" in c.source]
    note = " ".join(cells[index - 1].source.split())
    ablated = {r["params"] for r in records_in(ablation_path("08_taught")) if r["variant"] == "base"}
    published = records_in(single_path("08_taught"))[0]["params"]
    if ablated != {published}:
        (params,) = ablated
        assert (f"of the {params:,}-parameter" in note
                and f"not of the {published:,}-parameter net this notebook publishes" in note)
