"""Publishing (utils.lab.publish): the published notebook keeps no trace of the run's machine, a command's section
lands in results/README.md."""
import json

import nbformat
import pytest

from utils.lab import publish, readme


def executed_notebook(path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("epochs = 15", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("epochs = 5\nseed = 1\noutput_dir = '/tmp/run'\nsmoke = False",
                                                metadata={"tags": ["injected-parameters"]}),
                      nbformat.v4.new_markdown_cell("*Published run:* old", metadata={"tags": ["published-run"]}),
                      nbformat.v4.new_code_cell("print(epochs)")]
    notebook.metadata["papermill"] = {"input_path": "/work/notebooks/05.ipynb", "output_path": "/tmp/run/05.ipynb",
                                      "parameters": {"epochs": 5, "seed": 1, "output_dir": "/tmp/run",
                                                     "smoke": False},
                                      "duration": 12.5}
    nbformat.write(notebook, path)


def test_the_injected_cell_becomes_one_note_and_no_machine_path_is_kept(tmp_path):
    executed_notebook(tmp_path / "05.ipynb")
    text = publish.published_notebook(tmp_path / "05.ipynb", "python -m utils.lab.series run 05 -p epochs 5")
    assert "/tmp/" not in text and "/work/" not in text
    cells = nbformat.reads(text, as_version=4).cells
    assert [c.source for c in cells if c.cell_type == "markdown"] == [
        "*Published run:* `python -m utils.lab.series run 05 -p epochs 5`, with `epochs = 5`, `seed = 1` instead of "
        "the values above."]  # the old note is gone; where files went and smoke are not the run's recipe
    assert [c.source for c in cells if c.cell_type == "code"] == ["epochs = 15", "print(epochs)"]
    assert json.loads(text)["metadata"]["papermill"] == {"duration": 12.5}


def test_a_commands_section_is_written_into_results_readme_and_nowhere_else(tmp_path, monkeypatch):
    results_readme = tmp_path / "README.md"
    results_readme.write_text("top\n<!-- search:begin -->\nold\n<!-- search:end -->\nbottom\n")
    monkeypatch.setattr(readme, "RESULTS_README", results_readme)
    guide = readme.README.read_bytes()
    publish.publish_section("search", "| new |")
    assert results_readme.read_text() == "top\n<!-- search:begin -->\n| new |\n<!-- search:end -->\nbottom\n"
    assert readme.README.read_bytes() == guide
    with pytest.raises(ValueError, match="no <!-- schedulers:begin -->"):
        publish.publish_section("schedulers", "x")
    with pytest.raises(ValueError, match="'results' is not a section a command writes"):
        publish.publish_section("results", "x")  # the README's results table comes from the store alone
