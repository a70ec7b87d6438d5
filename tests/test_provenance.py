"""Every record says where it ran; the fields follow what torch really used, not what the machine could do."""
import json
import os
import platform
import subprocess
import sys

import torch

from utils.config import RunConfig
from utils.engine import History
from utils.project import ROOT
from utils.provenance import machine
from utils.report import metrics_record
from utils.tables import machine_short

FIELDS = {"cpu", "cpu_capability", "onednn_max_cpu_isa", "threads", "gpu", "cudnn", "tf32_conv", "torch", "python"}


def test_a_record_carries_the_machine_fields():
    history = History([0.1], [99.0], [0.05], [99.1], [0.01], [1.0])
    record = metrics_record("05_garam_masala", RunConfig(model="garam_masala", device="cpu"), history, 7536)
    assert FIELDS <= set(record)
    assert record["device"] == "cpu" and record["gpu"] is None and record["cudnn"] is None
    assert record["threads"] == torch.get_num_threads() and record["torch"] == torch.__version__
    assert record["python"] == platform.python_version() and record["cpu"]
    assert machine_short(record) == f"cpu {record['cpu_capability']} ×{record['threads']}"


def test_the_fields_name_the_kernels_torch_was_told_to_use():
    """ATEN_CPU_CAPABILITY picks ATen's kernels and ONEDNN_MAX_CPU_ISA caps oneDNN's: the record must say so."""
    code = ("import json, sys, torch; sys.path.insert(0, %r); from utils.provenance import machine; "
            "torch.set_num_threads(1); print(json.dumps(machine(torch.device('cpu'))))" % str(ROOT))
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}
    fields = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                       check=True).stdout)
    assert fields["cpu_capability"] == "DEFAULT" and fields["onednn_max_cpu_isa"] == "SSE41"
    assert fields["threads"] == 1
    assert machine(torch.device("cpu"))["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_machine_fields_a_record_never_had_show_as_unknown_in_the_tables():
    assert machine_short({"device": "cpu", "gpu": None, "cpu_capability": None, "threads": None}) == "cpu ? ×?"
    assert machine_short({"device": "cuda", "gpu": "NVIDIA H200", "cpu_capability": "AVX512", "threads": 16}) == \
        "NVIDIA H200"
