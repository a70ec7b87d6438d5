"""How a training step runs: the forward fit trains through (the model's own, torch.compile's, or CUDA graphs'), and
its precision, chosen once per run by training_forward.

bfloat16 autocast and torch.compile are speed levers that change the kernels or the precision, each used where the
machine has it; CUDA graphs change only how the GPU is fed, not the numbers.

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
        if any(note.endswith(RAN_UNCOMPILED) for note in levers.notes):
            pass  # a resumed run whose earlier part fell back while training goes on as it did: uncompiled
        elif missing:
            levers.fall_back(f"{missing}: training the model uncompiled")
        else:
            levers.compiled = True
    return levers


VECTOR_BITS = {"AVX2": 256, "AVX512": 512}  # the CPU kernels' vector width (bits) by ATen's kernel set


def compile_options(model):
    """torch.compile's inductor options for `model`: on the CPU, the vector width of the kernels this process runs
    (ATen's capability, which ATEN_CPU_CAPABILITY sets). Being an option, the width is part of the key under which
    torch caches compiled graphs, which torch 2.14 does not otherwise key on the width: a graph generated for one
    width and rebuilt for the other writes past its buffers (a crash, or NaN; tests/test_levers.py)."""
    if next(model.parameters()).device.type != "cpu":
        return {}
    bits = VECTOR_BITS.get(torch.backends.cpu.get_cpu_capability())
    return {"cpp.simdlen": bits} if bits else {}


RAN_UNCOMPILED = "training the model uncompiled from there"  # the note's end where a compiled run fell back


class CompiledForward:
    """The model's forward through torch.compile for full batches of `batch_size`; when compiling fails (on the
    first batch, where torch compiles), the model's own forward from then on, with a note in `levers`.

    Compiled for the one batch size (dynamic=False): a batch of another size, an epoch's short last one, runs the
    model's own forward, as GraphedForward does. That costs no second compile, and avoids torch's dynamic-shape
    kernels, which gave NaN for these models with AVX2 kernels in torch 2.14 (tests/test_levers.py).

    On the CPU every compiled batch's logits are checked, as a compiled CPU kernel that writes past its buffer's end
    gives NaN rather than an error (compile_options; pytorch/pytorch#196681). Non-finite logits from the compiled
    forward put the model's buffers (BatchNorm's statistics) back as they were before the batch, and the batch and
    the rest of the run go through the model's own forward, with a note. On the CPU the check costs no device sync."""

    def __init__(self, model, levers, batch_size):
        self.model, self.levers, self.batch_size = model, levers, batch_size
        self.compiled = torch.compile(model, dynamic=False, options=compile_options(model))
        self.batches = 0
        self.checked = next(model.parameters()).device.type == "cpu"
        self.buffers = list(model.buffers())
        self.saved = [buffer.detach().clone() for buffer in self.buffers] if self.checked else []

    def __call__(self, images):
        if self.levers.compiled and images.shape[0] == self.batch_size:
            self.batches += 1
            self._copy(self.buffers, self.saved)  # kept, to put back should the batch fail
            try:
                logits = self.compiled(images)
            except Exception as error:  # a missing or broken toolchain surfaces only here, as many kinds of error
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                self._fall_back(f"compiling failed ({type(error).__name__}: {first_line[:160]}): "
                                f"{RAN_UNCOMPILED}")
            else:
                if not self.checked or bool(torch.isfinite(logits).all()):
                    return logits
                self._fall_back(f"torch.compile's kernels gave non-finite logits on compiled batch {self.batches}: "
                                f"{RAN_UNCOMPILED}")
        return self.model(images)

    def _fall_back(self, note):
        """The model's own forward from this batch on, from the buffers as they were before it."""
        self._copy(self.saved, self.buffers)
        self.levers.compiled = False
        self.levers.fall_back(note)

    @staticmethod
    @torch.no_grad()
    def _copy(sources, targets):
        for source, target in zip(sources, targets):
            target.copy_(source)

    def release(self):
        """Nothing to give back: the model itself is unchanged."""


class PlainForward:
    """The model's own forward: what a run without torch.compile or CUDA graphs trains through."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images):
        return self.model(images)

    def release(self):
        """Nothing to give back."""


# CUDA graphs for the training forward and backward: on a GPU, a step of these tiny nets is mostly launch overhead.
# A step is a long row of tiny kernels, and launched one by one from Python they leave the GPU waiting. Captured once
# as CUDA graphs (torch.cuda.make_graphed_callables), the forward and the backward replay with one launch each. The
# loss, the optimizer, the LR schedule and the weight average run as before, on the gradients the replay gives.


class GraphedForward:
    """Computes a training batch's logits: through the captured graphs when the batch has the captured size, through
    the model's own forward otherwise (the short last batch of an epoch). In eval mode the model runs as it is
    (make_graphed_callables falls back by itself). `release()` gives the model its own forward back."""

    def __init__(self, model, batch_shape):
        device = next(model.parameters()).device
        self.model, self.batch_size = model, batch_shape[0]
        self._own_forward = model.forward
        state = {name: value.clone() for name, value in model.state_dict().items()}
        rng = torch.cuda.get_rng_state(device)
        training = model.training
        model.train()
        torch.cuda.make_graphed_callables(model, (torch.randn(batch_shape, device=device),))
        # warm-up and capture ran forward passes on random images: put BatchNorm's statistics and the RNG back, in
        # place, so that the graphs (which hold these tensors) and an uncaptured run start from the same state
        model.load_state_dict(state)
        torch.cuda.set_rng_state(rng, device)
        model.train(training)

    def __call__(self, images):
        if images.shape[0] == self.batch_size:
            return self.model(images)
        return self._own_forward(images)

    def release(self):
        del self.model.forward  # make_graphed_callables set it on the instance; the class's forward shows again


def graphed_forward(model, config, data):
    """A GraphedForward for `model` when config asks for CUDA graphs and trains on CUDA with at least one full
    batch; else None (train the model as it is)."""
    if not (config.cuda_graphs and config.resolved_device.type == "cuda"
            and len(data.train_labels) >= config.batch_size):
        return None
    try:
        return GraphedForward(model, (config.batch_size, *data.train_images.shape[1:]))
    except RuntimeError as error:  # e.g. a torch or driver that cannot capture: say how to train without
        raise RuntimeError(f"capturing the model as CUDA graphs failed ({error}); RunConfig(cuda_graphs=False) "
                           "trains without them (build the model afresh: the capture may have run it)") from error


def training_forward(model, config, data, earlier=None):
    """How fit computes a training batch's logits, chosen once per run: (forward, levers).

    forward is always a callable with release(): torch.compile's where config.compile_model asks and the machine can
    (CompiledForward), else CUDA graphs' on CUDA in float32 (graphed_forward: captured graphs would hold float32
    kernels, so bfloat16 runs uncaptured), else the model's own (PlainForward). levers: the precision and whether the
    model is compiled, with a note for each lever the run went without; earlier: a resumed run's History.levers,
    whose notes it keeps."""
    levers = resolve_levers(config, (earlier or {}).get("notes", []))
    if levers.compiled:
        return CompiledForward(model, levers, config.batch_size), levers
    graphed = graphed_forward(model, config, data) if levers.precision == "float32" else None
    return graphed or PlainForward(model), levers
