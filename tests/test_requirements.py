"""requirements.txt declares every third-party module that utils/, the notebooks and the tests import, and every
command a learner runs.

CI's machine keeps whatever was installed on it by hand, so a module that only comes along with another package (or
an extra left out, as `ray` for `ray[tune]`) passes there and fails on a fresh machine. Each imported module is
traced to the distribution that provides it (importlib.metadata), and that distribution must have a line of its own.
A line that nothing imports is there for a command (`jupyter lab`): its comment names it (`# command: jupyter lab;
...`), and the command must run in this environment.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from utils.project import NOTEBOOKS_DIR, ROOT

REQUIREMENTS = ROOT / "requirements.txt"
SOURCES = ("utils", "tests")
# a module that works only with an extra of its distribution: module prefix -> (distribution, extra)
EXTRAS_NEEDED = {"ray.tune": ("ray", "tune")}


def normalized(name):
    """A distribution's name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(text):
    """{distribution: its extras} of each requirement line ('name[extra,...] specifier  # comment')."""
    result = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", line)
        if match:
            extras = {normalized(e) for e in (match.group(2) or "").split(",") if e.strip()}
            result.setdefault(normalized(match.group(1)), set()).update(extras)
    return result


def commands(text):
    """{distribution: the command its line says it provides} ('name>=1  # command: jupyter lab; what it is for')."""
    found = {}
    for line in text.splitlines():
        requirement, _, comment = line.partition("#")
        match = re.search(r"\bcommand:\s*([^;]+)", comment)
        if match and requirement.strip():
            found[normalized(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip()).group(0))] = \
                match.group(1).strip()
    return found


def in_this_environment(command):
    """`command` as an argument list whose program is this environment's: `python` is this interpreter, any other
    program is looked for beside it first (a virtual environment's bin/), then on the PATH."""
    program, *arguments = command.split()
    if program == "python":
        return [sys.executable, *arguments]
    found = shutil.which(program, path=os.path.dirname(sys.executable)) or shutil.which(program)
    assert found, f"{program} is not installed in this environment"
    return [found, *arguments]


def imports_in(source):
    """The absolute module names a piece of Python source imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from ray import tune`: ray.tune
    return names


def notebook_code(path):
    """A notebook's code cells as one Python source, IPython's magics and shell lines left out."""
    cells = json.loads(path.read_text())["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def imported_modules():
    """{module: the files that import it} over utils/, tests/ and the notebooks, the project's own modules left out."""
    found = {}
    sources = [(p, p.read_text()) for folder in SOURCES for p in sorted((ROOT / folder).rglob("*.py"))]
    sources += [(p, notebook_code(p)) for p in sorted(NOTEBOOKS_DIR.glob("*.ipynb"))]
    local = {"utils", "conftest"} | {p.stem for p in (ROOT / "tests").glob("*.py")}
    for path, source in sources:
        for name in imports_in(source):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in local:
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def missing(requirements_text, modules):
    """What a fresh environment made from `requirements_text` would lack for `modules`, one line per module."""
    wanted, owners, problems = declared(requirements_text), metadata.packages_distributions(), []
    for name, files in sorted(modules.items()):
        where = ", ".join(sorted(files))
        dists = {normalized(d) for d in owners.get(name.split(".")[0], [])}
        if not dists:
            problems.append(f"{name} ({where}): no installed distribution provides it")
        elif not dists & set(wanted):
            problems.append(f"{name} ({where}) comes from {', '.join(sorted(dists))}, which requirements.txt "
                            f"does not declare")
        for prefix, (dist, extra) in EXTRAS_NEEDED.items():
            if (name == prefix or name.startswith(prefix + ".")) and extra not in wanted.get(dist, set()):
                problems.append(f"{name} ({where}) needs {dist}[{extra}], which requirements.txt does not declare")
    return problems


def test_every_imported_third_party_module_is_declared():
    modules = imported_modules()
    assert {"torch", "ray.tune.schedulers", "papermill", "IPython.display"} <= set(modules)  # the scan sees them
    assert missing(REQUIREMENTS.read_text(), modules) == []


def unexplained(requirements_text, modules):
    """The declared distributions that none of `modules` comes from and whose line names no command."""
    owners = metadata.packages_distributions()
    importing = {normalized(d) for name in modules for d in owners.get(name.split(".")[0], [])}
    return set(declared(requirements_text)) - importing - set(commands(requirements_text))


def test_every_declared_line_is_imported_or_names_its_command():
    text = REQUIREMENTS.read_text()
    assert unexplained(text, imported_modules()) == set(), "lines that nothing imports and that name no command"
    assert {"jupyterlab": "jupyter lab", "nbconvert": "jupyter nbconvert"}.items() <= commands(text).items()


def test_a_line_nothing_imports_without_a_command_is_caught():
    text = REQUIREMENTS.read_text().replace("# command: jupyter lab;", "#")
    assert unexplained(text, imported_modules()) == {"jupyterlab"}


@pytest.mark.parametrize("command", sorted(set(commands(REQUIREMENTS.read_text()).values())))
def test_each_declared_command_runs(command):
    done = subprocess.run([*in_this_environment(command), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command} --version: {done.stderr.strip()[-300:]}"
    assert re.search(r"\d+\.\d+", done.stdout), done.stdout


def test_ray_written_without_its_tune_extra_is_caught():
    text = REQUIREMENTS.read_text()
    assert re.search(r"^ray\[tune\]", text, re.M)
    problems = missing(re.sub(r"^ray\[tune\]", "ray", text, flags=re.M), imported_modules())
    assert problems and all("needs ray[tune]" in p for p in problems)


def test_a_distribution_missing_from_the_file_is_caught():
    text = "\n".join(line for line in REQUIREMENTS.read_text().splitlines() if not line.startswith("papermill"))
    problems = missing(text, imported_modules())
    assert problems and all(p.startswith("papermill") and "comes from papermill" in p for p in problems)


def test_declared_extras_are_installed_with_what_they_bring():
    """Each extra's own requirements are in this environment: `ray[tune]` brought pandas and pyarrow. Requirements
    with a further marker (a Python version, a platform) may not apply here and are left out."""
    for dist, extras in declared(REQUIREMENTS.read_text()).items():
        for extra in extras:
            marker = re.compile(rf";\s*extra\s*==\s*['\"]{extra}['\"]\s*$")
            needs = [r for r in metadata.requires(dist) or [] if marker.search(r)]
            assert needs, f"{dist} has no extra {extra!r}"
            for requirement in needs:
                name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)
                metadata.version(name)  # PackageNotFoundError names what the environment lacks
