"""Timing training steps for the bench: a model stepping as fit() steps it, or the whole step as one CUDA graph.

Only the time counts: the models these train are thrown away.
"""
import itertools
import time

import torch
import torch.nn.functional as F

from utils.config import RunConfig
from utils.engine import labels_loss, make_optimizer, train_epoch
from utils.levers import GraphedForward
from utils.models import build


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device, work):
    synchronize(device)
    started = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - started


class StepTimer:
    """A model with the optimizer fit() would give it, for timing: `steps(batches, n)` runs n training steps with
    the engine's train_epoch, on CUDA through CUDA graphs of its forward and backward as fit() does
    (cuda_graphs=False: without). The model it trains is thrown away; only the time counts."""

    def __init__(self, device, model_name, batch_size=128, channels_last=False, optimizer_options=None,
                 compile_model=False, inplace_relu=False, bf16=False, compile_mode=None, cudnn_benchmark=False,
                 cuda_graphs=True):
        torch.manual_seed(0)
        self.cudnn_benchmark = cudnn_benchmark
        self.model = build(model_name).to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        for module in self.model.modules():
            if isinstance(module, torch.nn.ReLU):
                module.inplace = inplace_relu
        self.optimizer = make_optimizer(self.model, RunConfig(model=model_name, lr=0.01),
                                        **(optimizer_options or {}))
        self.forward = torch.compile(self.model, mode=compile_mode) if compile_model else self.model
        if cuda_graphs and device.type == "cuda" and not (compile_model or bf16):
            with torch.backends.cudnn.flags(enabled=True, benchmark=cudnn_benchmark):
                self.forward = GraphedForward(self.model, (batch_size, 1, 28, 28))
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def steps(self, batches, count):
        with torch.backends.cudnn.flags(enabled=True, benchmark=self.cudnn_benchmark), self.autocast:
            train_epoch(self.model, self.forward, itertools.islice(batches, count), self.optimizer, labels_loss)


class GraphedSteps:
    """The floor of path (b) on a GPU: forward, loss, backward and SGD step captured once as one CUDA graph (as in
    PyTorch's whole-network capture example) and replayed per batch. Timing only: its learning rate is fixed,
    where fit() changes it every step, and every batch must have the captured size."""

    def __init__(self, device, model_name, batch_size):
        torch.manual_seed(0)
        self.model = build(model_name).to(device).train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, foreach=True)
        self.images = torch.randn(batch_size, 1, 28, 28, device=device)
        self.labels = torch.randint(0, 10, (batch_size,), device=device)
        side = torch.cuda.Stream()  # warm-up (optimizer state, kernel choice) away from the capturing stream
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step()

    def _step(self):
        self.optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(self.model(self.images), self.labels).backward()
        self.optimizer.step()

    def steps(self, batches, count):
        for images, labels in itertools.islice(batches, count):
            self.images.copy_(images)
            self.labels.copy_(labels)
            self.graph.replay()
