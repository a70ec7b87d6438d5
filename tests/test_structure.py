"""The shape of the code: no import circle, commands at the top only, one lock helper, a runner without torch."""
import ast
import subprocess
import sys

import nbformat

from utils.project import NOTEBOOKS_DIR, ROOT, notebook_stems

COMMANDS = {"utils.series", "utils.ablation", "utils.bench", "utils.search"}  # python -m ...: nothing else imports them
TORCH_FREE = ["utils.series", "utils.sweep", "utils.cli", "utils.execute", "utils.publish", "utils.store",
              "utils.experiment", "utils.provenance", "utils.scale", "utils.readme", "utils.tables", "utils.metrics",
              "utils.recipes", "utils.files", "utils.project", "utils.ranking"]


def imports_of(source):
    """The utils modules a piece of source imports, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("utils"):
            found |= {node.module} if node.module != "utils" else {f"utils.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("utils.")}
    return found


def import_graph():
    return {f"utils.{path.stem}": imports_of(path.read_text()) for path in (ROOT / "utils").glob("*.py")
            if path.stem != "__init__"}


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()

    def reaches(start, target, seen=()):
        return any(nxt == target or (nxt not in seen and reaches(nxt, target, (*seen, nxt)))
                   for nxt in graph.get(start, ()))

    circles = sorted(module for module in graph if reaches(module, module))
    assert circles == []


def test_no_utils_module_imports_a_command_module():
    graph = import_graph()
    assert {module: sorted(imported & COMMANDS) for module, imported in graph.items() if imported & COMMANDS} == {}


def test_one_lock_helper_in_the_whole_package():
    """utils.files.file_lock is the only place that takes a file lock; everything else goes through it."""
    takers = sorted(path.name for path in (ROOT / "utils").glob("*.py") if "fcntl" in path.read_text())
    assert takers == ["files.py"]


def test_no_notebook_imports_a_command_module():
    for stem in notebook_stems():
        cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
        source = "\n".join(c.source for c in cells if c.cell_type == "code")
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        assert not imports_of("\n".join(lines)) & COMMANDS, stem


def test_the_runner_and_the_readme_tools_load_no_torch():
    code = f"import sys; import {', '.join(TORCH_FREE)}; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_readmes_module_table_names_every_module_once():
    text = (ROOT / "README.md").read_text().split("## The code", 1)[1]
    listed = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `utils/")]
    assert sorted(listed) == sorted(f"utils/{path.name}" for path in (ROOT / "utils").glob("*.py")
                                    if path.name != "__init__.py")
