"""Speed levers that change the kernels or the precision: bfloat16 autocast and torch.compile, each where the machine
has it.

A lever is a recipe ingredient (RunConfig.precision, RunConfig.compile_model): it changes the numbers a run
produces, so it is part of the experiment and of the record. A machine that lacks a lever trains without it, in
float32 or uncompiled, and says so in one line ("note: ..."), never with an error: a notebook that asks for bfloat16
still runs on a CPU without AVX-512 BF16 or on an old GPU. The record keeps what the run used (History.levers).
"""
import importlib.util
import shutil
from dataclasses import dataclass, field

import torch

PRECISIONS = ("float32", "bfloat16")  # bfloat16: the forward and the loss under torch.autocast, weights in float32
C_COMPILERS = ("c++", "g++", "clang++", "cl")  # torch.compile's CPU backend builds its kernels with one of these


def bfloat16_missing(device):
    """Why `device` cannot train under bfloat16 autocast at speed, or None when it can. A CPU needs AVX-512 with
    BF16 instructions (oneDNN's bfloat16 kernels), a GPU native bfloat16 (Ampere or newer): elsewhere bfloat16 is
    emulated, slower than float32."""
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            return f"{torch.cuda.get_device_name(device)} has no native bfloat16"
        return None
    if device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        if not (capability.startswith("AVX512") and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return f"this CPU ({capability} kernels) has no AVX-512 BF16 instructions"
        return None
    return f"bfloat16 autocast is not used on {device.type}"


def compile_missing(device):
    """Why torch.compile cannot build kernels for `device` here, or None when it can."""
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python"
    if device.type == "cpu" and not any(shutil.which(name) for name in C_COMPILERS):
        return "torch.compile needs a C++ compiler on the CPU and none was found"
    if device.type == "cpu" and torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        # torch 2.14's AVX-512 kernels for these models' training step corrupt the heap ("malloc(): unaligned
        # tcache chunk detected"): the process dies, where a fallback can still save the run
        return ("torch.compile's AVX-512 kernels crash this training step (set ATEN_CPU_CAPABILITY=avx2 to compile "
                "with AVX2 kernels)")
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:  # its GPU kernels are Triton's
        return "torch.compile needs Triton on the GPU and it is not installed"
    if device.type not in ("cpu", "cuda"):
        return f"torch.compile is not used on {device.type}"
    return None


@dataclass
class Levers:
    """What a run uses: its precision, whether its model is compiled, and a note for each lever it asked for and
    went without."""

    precision: str = "float32"
    compiled: bool = False
    notes: list = field(default_factory=list)

    def fall_back(self, note):
        """Go without a lever: keep the note (once) and print it on one line."""
        if note not in self.notes:
            self.notes.append(note)
        print(f"note: {note}", flush=True)

    @property
    def autocast_dtype(self):
        """The dtype of the forward pass under autocast, or None for float32 throughout."""
        return torch.bfloat16 if self.precision == "bfloat16" else None


def resolve_levers(config, notes=()):
    """The levers `config` asks for that its device has; each one it lacks falls back with a note. notes: those of
    the earlier parts of a resumed run, kept."""
    device, levers = config.resolved_device, Levers(notes=list(notes))
    if config.precision == "bfloat16":
        missing = bfloat16_missing(device)
        if missing:
            levers.fall_back(f"{missing}: training in float32 instead of bfloat16")
        else:
            levers.precision = "bfloat16"
    if config.compile_model:
        missing = compile_missing(device)
        if missing:
            levers.fall_back(f"{missing}: training the model uncompiled")
        else:
            levers.compiled = True
    return levers


class CompiledForward:
    """The model's forward through torch.compile for full batches of `batch_size`; when compiling fails (on the
    first batch, where torch compiles), the model's own forward from then on, with a note in `levers`.

    Compiled for the one batch size (dynamic=False): a batch of another size, an epoch's short last one, runs the
    model's own forward, as utils.graphs does. That costs no second compile, and avoids torch's dynamic-shape
    kernels, which gave NaN for these models with AVX2 kernels in torch 2.14 (tests/test_levers.py)."""

    def __init__(self, model, levers, batch_size):
        self.model, self.levers, self.batch_size = model, levers, batch_size
        self.compiled = torch.compile(model, dynamic=False)

    def __call__(self, images):
        if self.levers.compiled and images.shape[0] == self.batch_size:
            try:
                return self.compiled(images)
            except Exception as error:  # a missing or broken toolchain surfaces only here, as many kinds of error
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                self.levers.compiled = False
                self.levers.fall_back(f"compiling failed ({type(error).__name__}: {first_line[:160]}): "
                                      "training the model uncompiled")
        return self.model(images)

    def release(self):
        """Nothing to give back: the model itself is unchanged (the same interface as utils.graphs.GraphedForward)."""
