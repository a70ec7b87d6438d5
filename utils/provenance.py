"""Where a run happened and what made it: the machine facts that decide its last digits, the code and the command.

The same seed gives the same numbers only with the same kernels: on the CPU that means the same torch version, CPU
capability (oneDNN and ATen pick other kernels for AVX2 and AVX-512, which round differently) and thread count; on a
GPU the same GPU, torch, cuDNN and TF32 setting. The code is the commit of this checkout and whether the code that
makes a run (utils/, notebooks/, requirements.txt) had uncommitted changes, with a hash of utils/ that needs no git.

A command that runs notebooks or Ray tasks states itself (`announced`): the processes it starts (notebook kernels,
Ray workers, which get a copy of the code without .git) inherit its command line and code identity through the
environment, so every record names the command that asked for it.
"""
import contextlib
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from utils.project import environment_variable

UTILS_DIR = Path(__file__).resolve().parent
PROVENANCE_ENV = "TINY_MNIST_PROVENANCE"  # {"command", "code"} of the command that started this process
CODE_PATHS = ("utils", "notebooks", "requirements.txt")  # what makes a run: a change here is a change of the code


def cpu_model():
    """The CPU's model name as the OS reports it."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device):
    """The record fields that say where a run on `device` (a torch.device) happened."""
    import torch

    cuda = device.type == "cuda"
    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # what ATen dispatches to: AVX2, AVX512, ...
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),  # a cap on oneDNN's kernels, when set
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "tf32_conv": torch.backends.cudnn.allow_tf32 if cuda else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def known(value):
    """A record's value, or '?' where the record never had it (its `unknown` list names the field)."""
    return "?" if value is None else value


def machine_short(record):
    """Where a run happened, in a few words: 'cpu AVX2 ×2' or the GPU's name."""
    if record["gpu"]:
        return record["gpu"]
    return f"{known(record['device'])} {known(record['cpu_capability'])} ×{known(record['threads'])}"


def utils_hash(folder=UTILS_DIR):
    """SHA-256 over the paths and bytes of the package's Python files, the lab's included: the code, with or
    without git."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _git(*arguments):
    result = subprocess.run(["git", *arguments], cwd=UTILS_DIR.parent, capture_output=True, text=True, timeout=30)
    if result.returncode:
        raise OSError(result.stderr.strip())
    return result.stdout.rstrip("\n")  # not strip(): a status line may begin with a space


def uncommitted():
    """The files under CODE_PATHS that differ from the commit (changed, added, removed, new and not ignored), as
    paths from the repository root; None without git (a Ray worker's copy, a zip download)."""
    try:
        if Path(_git("rev-parse", "--show-toplevel")).resolve() != UTILS_DIR.parent:
            raise OSError("a copy of the project inside another repository")
        status = _git("status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS)
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if line.strip())


def code_identity():
    """{'commit', 'dirty', 'utils_sha256'} of the code here: dirty means uncommitted changes under CODE_PATHS;
    without git commit and dirty are None."""
    changed = uncommitted()
    if changed is None:
        return {"commit": None, "dirty": None, "utils_sha256": utils_hash()}
    return {"commit": _git("rev-parse", "HEAD"), "dirty": bool(changed), "utils_sha256": utils_hash()}


def command_line(argv):
    """'python -m utils.<module> ARGS' as a user would type it again."""
    return shlex.join(["python", "-m", *argv])


def own_command(notebook=None):
    """This process's command line ('python -m pytest -x', 'python script.py', ...); in Jupyter, the notebook."""
    if "ipykernel" in sys.modules:
        return f"Jupyter: notebooks/{notebook}.ipynb" if notebook else "Jupyter"
    if not sys.argv or not sys.argv[0]:
        return "python"
    program = Path(sys.argv[0])
    if program.name == "__main__.py":  # python -m PACKAGE
        return command_line([program.parent.name, *sys.argv[1:]])
    return shlex.join(["python", program.name, *sys.argv[1:]])


def announced(command=None):
    """A context in which the processes this one starts (notebook kernels, Ray workers) name `command` and this
    code in their records; without a command, this process's own, unless a caller announced one already."""
    previous = os.environ.get(PROVENANCE_ENV)
    if command is None and previous is not None:
        return contextlib.nullcontext()
    return environment_variable(PROVENANCE_ENV, json.dumps({"command": command or own_command(),
                                                            "code": code_identity()}))


def provenance(notebook=None):
    """{'command', 'code'} for a record made now: the announcing command's, else this process's own."""
    announced_here = os.environ.get(PROVENANCE_ENV)
    if announced_here:
        return json.loads(announced_here)
    return {"command": own_command(notebook), "code": code_identity()}
