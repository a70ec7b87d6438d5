"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a small net learns from a trained teacher's softened
outputs as well as from the labels.

The teacher's softmax at a temperature T > 1 spreads its probability over the digits a "7" could be mistaken for,
and how much over each: the labels say only which digit it is. The student is trained on
(1 - w) x cross-entropy with the labels + w x T² x KL(teacher's softmax at T || student's at T); the T² keeps the
soft part's gradients on the scale of the hard part's whatever T is. The teacher sees the same batch, augmented as
the student sees it, on the same device, in eval mode (BatchNorm with its saved statistics), without gradients.

The teacher is a model file a run saved ({"model": weights, "config": its RunConfig as a dict}), loaded with
weights_only; a file that is missing, damaged, of another model, trained in smoke mode, or trained on the images
the student is judged on is refused with a TeacherError naming it.
"""
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from utils.checkpoint import CheckpointError, load_checkpoint
from utils.files import sha256
from utils.models import ALIASES, build, count_parameters
from utils.project import ROOT


class TeacherError(CheckpointError):
    """A teacher file the run cannot learn from; the message names the file and what is wrong."""


def teacher_path(name):
    """The teacher file RunConfig.teacher names: an absolute path as it is, a relative one from the repository
    root (so that a notebook, a command and a Ray worker find the same file)."""
    path = Path(name)
    return path if path.is_absolute() else ROOT / path


@dataclass
class Teacher:
    model: torch.nn.Module  # in eval mode, its parameters frozen
    info: dict  # what the record keeps (History.teacher): file, sha256, model, params, split, epochs, seed,
    # notebook (whose recipe it trained), test_acc (its last epoch's, on what its split evaluates)


def load_teacher(config, device=None):
    """The Teacher config.teacher names, on `device` (the config's by default), or None without one."""
    if not config.teacher:
        return None
    path = teacher_path(config.teacher)
    try:
        state = load_checkpoint(path, device or config.resolved_device, required=("model", "config"))
    except CheckpointError as error:
        raise TeacherError(f"teacher file (RunConfig.teacher={config.teacher!r}): {error}") from None

    def refuse(why):
        raise TeacherError(f"teacher file {path} (RunConfig.teacher={config.teacher!r}) {why}")

    saved = state["config"]
    if not isinstance(saved, dict) or not isinstance(state["model"], dict):
        refuse("is not a saved run: it lacks the model's config or weights")
    saved_model = saved.get("model")
    if isinstance(saved_model, str):
        saved_model = ALIASES.get(saved_model, saved_model)  # a file saved under a model's old name
    if saved_model != config.teacher_model:
        refuse(f"holds a {saved.get('model')!r} model; RunConfig.teacher_model says {config.teacher_model!r}")
    if saved.get("smoke") and not config.smoke:
        refuse("was trained in smoke mode (a few thousand images, a few epochs): it has nothing to teach")
    if config.split == "validation" and saved.get("split", "test") != "validation":
        refuse("was trained on all 60,000 training images, the validation split's 10,000 among them: a run judged "
               "on the validation split learns from a teacher trained with split='validation' "
               "(python -m utils.lab.teacher)")
    try:
        with torch.random.fork_rng(devices=[]):  # building draws initial weights: the run's random stream stays
            model = build(saved["model"], **saved.get("model_args", {}))
    except (TypeError, ValueError) as error:
        refuse(f"has build arguments its model {saved['model']!r} does not take: {error}")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        refuse(f"has weights that do not fit its model {saved['model']!r}: {str(error).splitlines()[0]}")
    params = count_parameters(model)
    model.to(device or config.resolved_device).eval().requires_grad_(False)
    info = {"file": config.teacher, "sha256": sha256(path), "model": saved_model, "params": params,
            "split": saved.get("split", "test"), "epochs": saved.get("epochs"), "seed": saved.get("seed"),
            "notebook": state.get("notebook"), "test_acc": state.get("test_acc")}
    return Teacher(model, info)


def check_same_teacher(teacher, earlier, config):
    """Refuse to resume a run whose earlier epochs learned from another teacher file than `teacher` (their
    History.teacher, `earlier`): a run learns from one teacher."""
    if teacher is not None and earlier and earlier.get("sha256") != teacher.info["sha256"]:
        raise TeacherError(f"teacher file {teacher_path(config.teacher)} (RunConfig.teacher={config.teacher!r}) is "
                           f"not the one the run's earlier epochs learned from (SHA-256 {earlier.get('sha256')} then, "
                           f"{teacher.info['sha256']} now): put that file back, or start the run afresh")


def teacher_record(info):
    """The record of the run that trained the teacher (results/<notebook>.json, or .validation.json for one trained
    on the validation split) when its model is the teacher file byte for byte; else None."""
    from utils.results import records_in, single_path, validation_path  # only describe_teacher reads results/

    if not info.get("notebook"):
        return None
    path = (validation_path if info["split"] == "validation" else single_path)(info["notebook"])
    return next((r for r in records_in(path) if r.get("model_sha256") == info["sha256"]), None)


def describe_teacher(teacher):
    """What the teacher is, what it saw and what it cost, in a few lines (its training record where results/ has
    it)."""
    info = teacher.info
    epochs = "epochs not recorded" if info["epochs"] is None else f"{info['epochs']} epochs"
    accuracy = "not recorded" if info["test_acc"] is None else f"{info['test_acc']:.2f} %"
    seen = ("the validation split's 50,000 training images: none of the 10,000 a validation run is judged on"
            if info["split"] == "validation" else "the 60,000 training images: no test image")
    lines = [f"teacher: {info['file']} (SHA-256 {info['sha256'][:12]}...), model {info['model']}, "
             f"{info['params']:,} parameters",
             f"trained on {seen}; {epochs}, seed {info['seed']}; last epoch {accuracy} on its "
             f"{'validation' if info['split'] == 'validation' else 'test'} images"]
    record = teacher_record(info)
    if record is None:
        lines.append("what it cost: its training record is not in results/ (it was not trained by the runner)")
    else:
        where = record["gpu"] or f"{record['cpu']} ({record['cpu_capability']} kernels, {record['threads']} threads)"
        lines.append(f"what it cost: its own {record['epochs']} epochs, fit() {record['fit_seconds']:.0f} s on "
                     f"{where} ({record['command']}); the student pays for its forward pass on every batch too")
    return "\n".join(lines)


def distillation_loss(logits, teacher_logits, labels, temperature, weight, label_smoothing=0.0):
    """(1 - weight) x the labels' cross-entropy + weight x T² x KL(teacher || student) at temperature T."""
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    soft = F.kl_div(F.log_softmax(logits.float() / temperature, 1),
                    F.log_softmax(teacher_logits.float() / temperature, 1),
                    reduction="batchmean", log_target=True) * temperature ** 2
    return (1 - weight) * hard + weight * soft


def taught_loss(config, earlier=None):
    """(loss_of(images, logits, labels), the teacher's info) of a run that learns from config.teacher: the teacher
    sees the same batch (under the same autocast as the student) without gradients. earlier: the History.teacher of a
    resumed run's first part, which must be the same file."""
    teacher = load_teacher(config)
    check_same_teacher(teacher, earlier, config)

    def loss_of(images, logits, labels):
        with torch.no_grad():
            teacher_logits = teacher.model(images)
        return distillation_loss(logits, teacher_logits, labels, config.distill_temperature, config.distill_weight,
                                 config.label_smoothing)

    return loss_of, teacher.info
