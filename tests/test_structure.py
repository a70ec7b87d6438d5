"""The shape of the code: no import circle, commands at the top only, one lock helper, a runner without torch."""
import ast
import os
import subprocess
import sys

import nbformat

from utils.project import NOTEBOOKS_DIR, ROOT, notebook_stems

LAB = "utils.lab"
COMMANDS = {f"{LAB}.series", f"{LAB}.ablation", f"{LAB}.bench", f"{LAB}.search", f"{LAB}.teacher"}  # python -m ...: nothing imports them
TORCH_FREE = [f"{LAB}.series", f"{LAB}.sweep", f"{LAB}.cli", f"{LAB}.execute", f"{LAB}.publish", f"{LAB}.store",
              f"{LAB}.scale", f"{LAB}.readme", f"{LAB}.ranking", "utils.results", "utils.experiment",
              "utils.provenance", "utils.tables", "utils.metrics", "utils.recipes", "utils.files", "utils.project"]
PACKAGE_DIR = ROOT / "utils"


def module_name(path):
    """'utils.lab.series' for utils/lab/series.py, 'utils.lab' for utils/lab/__init__.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    """{module name: path} of every Python file of the package, the lab's included."""
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def imports_of(source):
    """The utils modules a piece of source imports, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("utils"):
            found |= {node.module} if node.module not in ("utils", LAB) else {f"{node.module}.{a.name}"
                                                                              for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("utils.")}
    return found


def import_graph():
    return {name: imports_of(path.read_text()) for name, path in modules().items()}


def in_lab(module):
    return module == LAB or module.startswith(LAB + ".")


def notebook_imports(stem):
    cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
    source = "\n".join(c.source for c in cells if c.cell_type == "code")
    return imports_of("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))


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
    takers = sorted(name for name, path in modules().items()
                    if any(word in path.read_text() for word in ("FileLock", "fcntl", "msvcrt")))
    assert takers == ["utils.files"]


# what Windows lacks of the standard library; a textbook module (or a notebook's cell) that imports one stops there
POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix", "crypt", "syslog")
WITHOUT_POSIX = """
import builtins, os, sys
real_import = builtins.__import__
def windows_import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__") or ""
    if name.split(".")[0] in POSIX_ONLY and (importer.split(".")[0] in ("utils", "__main__")):
        raise ImportError(f"{importer} imports {name}, which Windows lacks")
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = windows_import
"""


def test_the_textbook_imports_and_a_notebook_sets_up_without_posix_only_modules(mnist_dir):
    """As on Windows: every textbook module imported, then 05's cells up to its data (smoke) run, while any import
    of a POSIX-only module by utils/ or a notebook cell fails (third-party packages pick their own per system)."""
    textbook = [name for name in modules() if name != "utils" and not in_lab(name)]
    cells = [c for c in nbformat.read(NOTEBOOKS_DIR / "05_garam_masala.ipynb", as_version=4).cells
             if c.cell_type == "code"]
    setup, *first = ["\n".join(line for line in c.source.splitlines() if not line.startswith("%")) for c in cells[:4]]
    script = (f"POSIX_ONLY = {POSIX_ONLY!r}\n{WITHOUT_POSIX}\n{setup}\nimport importlib\n"
              f"for name in {textbook!r}: importlib.import_module(name)\n"
              + "\n".join(first).replace("smoke = False", "smoke = True") + "\nprint('ready', len(data.train_images))")
    done = subprocess.run([sys.executable, "-c", script], cwd=NOTEBOOKS_DIR, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip().splitlines()[-1].startswith("ready ")


def test_no_notebook_imports_a_lab_module():
    for stem in notebook_stems():
        assert sorted(m for m in notebook_imports(stem) if in_lab(m)) == [], stem


def test_the_textbook_imports_nothing_of_the_lab():
    """Nothing outside utils/lab/ imports it: every import of every textbook module, functions included."""
    graph = import_graph()
    assert {module: sorted(m for m in imported if in_lab(m)) for module, imported in graph.items()
            if not in_lab(module) and any(in_lab(m) for m in imported)} == {}


def test_the_textbook_and_what_the_notebooks_import_load_no_lab_module():
    """Importing every textbook module, and what each notebook imports, loads nothing of utils.lab."""
    textbook = sorted(m for m in modules() if not in_lab(m))
    wanted = sorted(set(textbook) | {m for stem in notebook_stems() for m in notebook_imports(stem)})
    code = f"import sys; import {', '.join(wanted)}; print(sorted(m for m in sys.modules if m.startswith('{LAB}')))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_structure_tests_see_the_lab():
    """The graph these tests check holds the lab's modules and its imports of the textbook (a guard against a
    scan that silently reads only the top folder)."""
    graph = import_graph()
    assert COMMANDS <= set(graph) and "utils.lab.store" in graph
    assert "utils.results" in graph["utils.lab.store"]


def test_the_runner_and_the_readme_tools_load_no_torch():
    code = (f"import sys; import {', '.join(TORCH_FREE)}; "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_readmes_module_table_names_every_module_once():
    text = (ROOT / "README.md").read_text().split("## The code", 1)[1]
    listed = [line.split("`")[1] for line in text.splitlines() if line.startswith("| `utils/")]
    assert sorted(listed) == sorted(path.relative_to(ROOT).as_posix() for path in PACKAGE_DIR.rglob("*.py")
                                    if path.name != "__init__.py")


def notebook_import_lines(stem):
    """The `from utils... import ...` statements of a notebook's code cells, as source."""
    cells = nbformat.read(NOTEBOOKS_DIR / f"{stem}.ipynb", as_version=4).cells
    source = "\n".join(c.source for c in cells if c.cell_type == "code")
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return [ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("utils")]


def defined_names(path):
    """The names a module defines at its top level (functions, classes, assignments), not those it imports."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_every_notebook_imports_each_name_from_the_module_that_defines_it():
    """A learner who looks a name up finds it where the import says, not behind a re-export."""
    found = modules()
    elsewhere = {}
    for stem in notebook_stems():
        for line in notebook_import_lines(stem):
            node = ast.parse(line).body[0]
            missing = sorted(a.name for a in node.names if a.name not in defined_names(found[node.module]))
            if missing:
                elsewhere.setdefault(stem, []).append(f"{node.module}: {', '.join(missing)}")
    assert elsewhere == {}


# what notebook 01's imports may load: the textbook a learner reads to follow the first notebook (20 modules and
# 3,019 lines when this was set). A new module on 01's path, or a few hundred lines more, has to be a choice.
FIRST_NOTEBOOK_MODULES, FIRST_NOTEBOOK_LINES = 20, 3150
# what 01's run never executes: a teacher, copies at test time, the published records, the lab. (utils.augment
# stays: a config without augmentation holds check_augment's full options, as every published record does.)
NOT_ON_THE_FIRST_PATH = {"utils.distill", "utils.tta", "utils.results", "utils.tables", "utils.lab"}


def test_the_first_notebooks_imports_load_a_small_textbook():
    """In a fresh interpreter, notebook 01's imports load at most FIRST_NOTEBOOK_MODULES modules of utils (the
    package included) with FIRST_NOTEBOOK_LINES lines in all: the lab, the optional features (a teacher, copies at
    test time), the published records and the lab-only tables stay unloaded."""
    code = "\n".join(notebook_import_lines("01_baseline") + [
        "import sys",
        "loaded = sorted(m for m in sys.modules if m == 'utils' or m.startswith('utils.'))",
        "print(len(loaded), sum(len(open(sys.modules[m].__file__).readlines()) for m in loaded), *loaded)"])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    count, lines, *loaded = done.stdout.split()
    assert not NOT_ON_THE_FIRST_PATH & set(loaded), loaded
    assert int(count) <= FIRST_NOTEBOOK_MODULES and int(lines) <= FIRST_NOTEBOOK_LINES, (count, lines, loaded)
