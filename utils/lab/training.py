"""One unit of work: a RunConfig in, a record out (and, when asked, the trained model).

Every kind of run goes through `train`: a seed of a sweep, an ablation variant, a search trial, the bench's
training runs (`--recipes`, `--throughput`; its step timers time single steps, not runs). A notebook shows the same
steps cell by cell with the same functions (mnist, build_model, fit, metrics_record), so a notebook run and `train`
with the same config give the same numbers (tests/test_series.py checks it).
"""
from dataclasses import dataclass

from utils.config import RunConfig
from utils.data import mnist
from utils.engine import build_model, fit
from utils.lab.scale import data_folder
from utils.models import count_parameters
from utils.report import metrics_record


@dataclass
class Run:
    record: dict
    model: object  # the trained model (fit leaves the weight average in it when there is one)
    history: object


def train(config, kind, notebook=None, variant=None, data=None, stop_after_epoch=None, progress="none",
          on_epoch=None):
    """Train `config` from scratch and return its Run. data: an MnistData already loaded for this config (the
    bench reuses one); stop_after_epoch: end early, as fit does; on_epoch(record): called after every epoch with
    the record of the epochs so far (a search trial reports it to Ray Tune)."""
    data = data if data is not None else mnist(config)
    model = build_model(config)
    params = count_parameters(model)

    def report(history):
        on_epoch(metrics_record(notebook, config, history, params, kind, variant))

    history = fit(model, data, config, stop_after_epoch=stop_after_epoch, progress=progress,
                  on_epoch=report if on_epoch else None)
    record = metrics_record(notebook, config, history, params, kind, variant)
    return Run(record, model, history)


@dataclass
class TrainingJob:
    """One run as a Ray worker receives it: the whole config (data_dir is the driver's MNIST folder)."""

    config: dict
    kind: str
    notebook: str = None
    variant: str = None


def train_job(job):
    """Train one TrainingJob with this process's threads; returns its record."""
    config = RunConfig(**{**job.config, "data_dir": str(data_folder(job.config["data_dir"]))})
    return train(config, job.kind, job.notebook, job.variant).record
