"""Every record says where it ran; the fields follow what torch really used, not what the machine could do."""
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

import pytest
import torch

from utils.config import RunConfig
from utils.engine import History
from utils.project import ROOT
from utils.provenance import UTILS_DIR, machine_short, utils_hash
from utils.report import metrics_record
from utils.lab.cli import current_command
from utils.lab.tables import provenance_table

FIELDS = {"cpu", "cpu_capability", "onednn_max_cpu_isa", "threads", "gpu", "cudnn", "tf32_conv", "torch", "python"}


def test_a_record_carries_the_machine_fields():
    history = History([0.1], [99.0], [0.05], [99.1], [0.01], [1.0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a count the record must follow, whatever this machine's default is
    try:
        record = metrics_record("05_garam_masala", RunConfig(model="garam_masala", device="cpu"), history, 7536)
    finally:
        torch.set_num_threads(threads)
    assert FIELDS <= set(record)
    assert record["device"] == "cpu" and record["gpu"] is None and record["cudnn"] is None
    assert record["threads"] == 1 and record["torch"].startswith(metadata.version("torch"))  # "2.14.1+cu130"
    assert record["python"] == platform.python_version() and record["cpu"]
    assert machine_short(record) == f"cpu {record['cpu_capability']} ×{record['threads']}"


@pytest.mark.parametrize("aten, onednn, expected", [
    ("default", "SSE41", "DEFAULT"),
    pytest.param("avx2", "AVX2", "AVX2", marks=pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                                                  reason="AVX2 is an x86-64 instruction set")),
])
def test_the_fields_name_the_kernels_torch_was_told_to_use(aten, onednn, expected):
    """ATEN_CPU_CAPABILITY picks ATen's kernels and ONEDNN_MAX_CPU_ISA caps oneDNN's: the record must say so."""
    code = ("import json, sys, torch; sys.path.insert(0, %r); from utils.provenance import machine; "
            "torch.set_num_threads(1); print(json.dumps(machine(torch.device('cpu'))))" % str(ROOT))
    env = {**os.environ, "ATEN_CPU_CAPABILITY": aten, "ONEDNN_MAX_CPU_ISA": onednn}
    fields = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                       check=True).stdout)
    assert fields["cpu_capability"] == expected and fields["onednn_max_cpu_isa"] == onednn
    assert fields["threads"] == 1


def test_machine_fields_a_record_never_had_show_as_unknown_in_the_tables():
    assert machine_short({"device": "cpu", "gpu": None, "cpu_capability": None, "threads": None}) == "cpu ? ×?"
    assert machine_short({"device": "cuda", "gpu": "NVIDIA H200", "cpu_capability": "AVX512", "threads": 16}) == \
        "NVIDIA H200"


def test_the_code_hash_covers_the_lab_and_the_textbook(tmp_path):
    """utils_sha256 names the code that made a record: a change in any module, the lab's included, changes it."""
    copy = tmp_path / "utils"
    shutil.copytree(UTILS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = utils_hash(copy)
    assert before == utils_hash(UTILS_DIR)
    for module in ("lab/store.py", "models.py"):
        original = (copy / module).read_bytes()
        (copy / module).write_bytes(original + b"\n# changed\n")
        assert utils_hash(copy) != before, module
        (copy / module).write_bytes(original)
    assert utils_hash(copy) == before


def test_a_command_recorded_under_its_old_name_reads_under_todays():
    assert (current_command("python -m utils.series run 05 --seeds 0-9")
            == "python -m utils.lab.series run 05 --seeds 0-9")
    assert current_command("python -m utils.search 07 --only stride") == "python -m utils.lab.search 07 --only stride"
    for unchanged in ("python -m utils.lab.ablation 05", "python -m utils.inspection 06", "python -m pytest",
                      "Jupyter: notebooks/05_garam_masala.ipynb", None):
        assert current_command(unchanged) == unchanged


def test_uncommitted_code_is_named_and_makes_a_record_dirty(tmp_path):
    """In a repository of the project's code: a changed textbook file, a new notebook, requirements.txt; data and
    results outside the code count for nothing."""
    for folder in ("utils", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("requirements.txt", ".gitignore"):  # .gitignore: the probe's own __pycache__ is no change
        shutil.copy(ROOT / name, tmp_path)

    def git(*arguments):
        subprocess.run(["git", *arguments], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    probe = "import json; from utils.provenance import code_identity, uncommitted; " \
            "print(json.dumps([uncommitted(), code_identity()['dirty']]))"

    def state():
        done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "new.json").write_text("[]")
    assert state() == [[], False]
    with open(tmp_path / "utils" / "metrics.py", "a") as file:
        file.write("# changed\n")
    (tmp_path / "notebooks" / "09_new.ipynb").write_text("{}")
    (tmp_path / "requirements.txt").unlink()
    assert state() == [["notebooks/09_new.ipynb", "requirements.txt", "utils/metrics.py"], True]


@pytest.fixture
def uncommitted_code(monkeypatch):
    monkeypatch.setattr("utils.lab.cli.uncommitted", lambda: ["notebooks/05_garam_masala.ipynb", "utils/engine.py"])


def test_commands_that_write_records_refuse_uncommitted_code_in_one_line(uncommitted_code, capsys, monkeypatch):
    from utils.lab import ablation, search, series, teacher

    refused = ("error: uncommitted changes in notebooks/05_garam_masala.ipynb, utils/engine.py: commit them first, "
               "so that the records name the code that made them, or give --allow-dirty")
    for main, argv in ((series.main, ["run", "05"]), (series.main, ["run", "05", "--seeds", "0-1"]),
                       (ablation.main, ["05", "--seeds", "0"]), (search.main, ["07", "--only", "pool-batch-192-lr-0.2"]),
                       (teacher.main, ["05"])):
        try:
            assert main(argv) == 2, argv
        except SystemExit as exit:  # argparse's parser.exit
            assert exit.code == 2, argv
        assert capsys.readouterr().err.splitlines() == [refused], argv
    ran = []
    monkeypatch.setattr(series, "run_notebooks", lambda *a, **k: ran.append(a[:2]) or [])
    assert series.main(["run", "05", "--allow-dirty"]) == 0  # the records will say dirty
    assert series.main(["run", "05", "--smoke"]) == series.main(["run", "05", "--no-publish"]) == 0  # nothing kept
    assert ran == [(["05_garam_masala"], False), (["05_garam_masala"], True), (["05_garam_masala"], False)]
    monkeypatch.setattr(series, "run_seeds", lambda *a, **k: [])
    assert series.main(["run", "05", "--seeds", "0-1", "--no-publish"]) == 0  # a sweep that writes nothing


def test_the_tables_mark_a_record_of_uncommitted_code():
    record = {"code": {"commit": "0123456789abcdef", "dirty": True, "utils_sha256": "f" * 64},
              "command": "python -m utils.lab.series run 05 --allow-dirty", "device": "cpu", "gpu": None,
              "cpu_capability": "AVX2", "threads": 2}
    assert "| 0123456+ |" in provenance_table({"05_garam_masala.json": [record]})
