"""Where a run happened: the machine facts that decide its last digits, stored in every record.

The same seed gives the same numbers only with the same kernels: on the CPU that means the same torch version, CPU
capability (oneDNN and ATen pick other kernels for AVX2 and AVX-512, which round differently) and thread count; on a
GPU the same GPU, torch, cuDNN and TF32 setting.
"""
import os
import platform

import torch


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
