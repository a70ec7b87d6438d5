"""RunConfig: every knob of one training run in one validated object, checked before any data is loaded.

Its fields split in two: what the experiment *is* (`experiment()`: model, schedule, seed, ...), which decides every
number a run produces, and where it runs (utils.experiment.WHERE_FIELDS), which decides only how fast.
"""
import inspect
import math
from dataclasses import asdict, dataclass, field

import torch

from utils.augment import check_augment
from utils.levers import PRECISIONS
from utils.metrics import TARGET_LAST_EPOCHS
from utils.models import ALIASES, MODELS, canonical_name
from utils.recipes import RECIPES, recipe_table, with_rules

OPTIMIZERS = ("sgd", "adam")
SCHEDULERS = ("none", "step", "onecycle", "piecewise")
SPLITS = ("test", "validation")  # what a run is evaluated on (utils.data.mnist)
MAX_EPOCHS = 100
UNTAUGHT = ("", 4.0, 0.5)  # teacher_model, distill_temperature, distill_weight of a run without a teacher
SMOKE_EPOCHS = 3  # a smoke run trains at most this many epochs (fewer when `epochs` says so): resume can be tried


class ConfigError(ValueError):
    """A RunConfig field with a value it does not allow; the message names the field and what it allows.

    In Jupyter it shows as that one line, without a traceback: the cause is the value, not the code."""

    def __init__(self, field, value, allowed, owner="RunConfig"):
        super().__init__(f"{owner}.{field}={value!r} is not allowed: {allowed}" if owner else
                         f"{field}={value!r} is not allowed: {allowed}")
        self.field = field

    def _render_traceback_(self):  # IPython calls this instead of formatting a traceback
        return [f"{type(self).__name__}: {self}"]


def parse_device(name):
    """The torch.device a device name asks for ('auto' stays 'auto'), whether or not this machine has it."""
    if name == "auto":
        return name
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError("device", name, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    return device


def resolve_device(name):
    """The torch.device for 'auto' (cuda when present, else cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = parse_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", name, "this machine has no CUDA GPU; use 'auto' or 'cpu'")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device", name, "this machine has no MPS device")
    return device


@dataclass
class RunConfig:
    model: str  # a name registered in utils.models
    model_args: dict = field(default_factory=dict)  # build arguments of the model (utils.models), e.g. blocks
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.01  # the peak LR for onecycle, the starting LR otherwise
    optimizer: str = "sgd"  # sgd (with momentum) or adam
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"  # none, step (StepLR), onecycle (OneCycleLR, stepped every batch) or piecewise
    step_size: int = 6  # StepLR: epochs between decays
    gamma: float = 0.1  # StepLR: decay factor
    pct_start: float = 0.2  # OneCycleLR: share of the steps spent warming up
    lr_points: list = field(default_factory=list)  # piecewise: [epoch, share of lr] points, the LR linear between
    # them and held through each epoch at its start's value, e.g. [[0, 0.5], [2, 1], [15, 0]]; empty otherwise
    label_smoothing: float = 0.0
    augment: dict = field(default_factory=dict)  # see utils.augment (AUGMENT_DEFAULTS, ELASTIC_DEFAULTS)
    clean_epochs: int = 0  # the last N epochs train on unaugmented images, the distribution the test set has
    ema_decay: float = 0.0  # > 0: evaluate (and keep) an exponential moving average of the weights, per step
    recalibrate_average: bool = False  # with ema_decay: recompute the average's BatchNorm statistics before each test
    split: str = "test"  # test: train on 60,000, evaluate on the test set; validation: train on 50,000, evaluate on
    # the 10,000 held out of the training set (utils.data.validation_indices), never reading the test set
    eval_last_epochs: int = 0  # 0: evaluate after every epoch; N: only after the last N (at least the 3 the target
    # is judged by). Evaluating changes no number the run produces, so this only saves the time of the others
    teacher: str = ""  # a trained model's file (a .pt a run saved; relative paths from the repository root) whose
    # softened outputs the model learns from beside the labels (utils.distill); empty: the labels alone
    teacher_model: str = ""  # the registered model the teacher file must hold (its config says which)
    distill_temperature: float = 4.0  # with a teacher: both nets' logits divided by it before the softmax, so
    # that the teacher's small probabilities for the wrong digits (which look alike) carry weight
    distill_weight: float = 0.5  # with a teacher: the loss is (1 - w) x labels' + w x teacher's. Without a teacher
    # these three keep their defaults (UNTAUGHT), whatever they were given
    test_time_augment: list = field(default_factory=list)  # copies of every evaluated image, each (right px,
    # down px, degrees): the prediction averages the softmax over the image and its copies (utils.tta)
    precision: str = "float32"  # bfloat16: the forward and the loss under autocast where the machine has native
    # bfloat16 (AVX-512 BF16, or a GPU from Ampere on), else float32 with a note (utils.levers)
    compile_model: bool = False  # train through torch.compile where it can build kernels, else uncompiled with a note
    seed: int = 1  # draws the initial weights (utils.engine.build_model) and every epoch's randomness (fit)
    device: str = "auto"  # auto picks cuda when present, else cpu
    data_dir: str = "data"
    smoke: bool = False  # at most SMOKE_EPOCHS epochs on a few thousand samples: checks the plumbing, proves nothing
    checkpoint_dir: str = ""  # where best.pt and last.pt go; empty: no checkpoints
    eval_batch_size: int = 500  # on the CPU, small eval batches stay in cache: faster than 2000 or 10000
    cuda_graphs: bool = True  # on CUDA, replay the training forward and backward as CUDA graphs (utils.levers)

    def __post_init__(self):
        self.validate()
        self.model = canonical_name(self.model)
        if self.teacher_model:
            self.teacher_model = canonical_name(self.teacher_model)
        if not self.teacher:  # what shapes a teacher's lesson means nothing without one: one untaught experiment
            self.teacher_model, self.distill_temperature, self.distill_weight = UNTAUGHT
        if self.smoke:
            self.epochs = min(self.epochs, SMOKE_EPOCHS)
            self.clean_epochs = min(self.clean_epochs, self.epochs)  # the same rule as a short run's (recipes)

    @classmethod
    def from_recipe(cls, stem, **changes):
        """The config of notebook `stem`'s recipe (utils.recipes), with `changes` (seed, device, epochs, ...) and
        the recipe's rules between knobs (utils.recipes.with_rules)."""
        if stem not in RECIPES:
            raise ValueError(f"no recipe for {stem!r}; recipes: {', '.join(RECIPES)}")
        return cls(**with_rules(RECIPES[stem], changes))

    def validate(self):
        """Raise ValueError naming the first bad field and what it allows."""
        def bad(name, allowed):
            raise ConfigError(name, getattr(self, name), allowed)

        try:
            factory = MODELS[canonical_name(self.model)]
        except (ValueError, TypeError):
            bad("model", f"one of {sorted(MODELS)}")
        if not isinstance(self.model_args, dict):
            bad("model_args", "a dict of the model's build arguments")
        try:
            inspect.signature(factory).bind(**self.model_args)
        except TypeError as error:
            bad("model_args", f"build arguments of {self.model!r} ({error})")
        for name, low, high in (("epochs", 1, MAX_EPOCHS), ("batch_size", 1, 60000), ("seed", 0, 2**32 - 1),
                                ("step_size", 1, MAX_EPOCHS), ("eval_batch_size", 1, 10000),
                                ("clean_epochs", 0, MAX_EPOCHS), ("eval_last_epochs", 0, MAX_EPOCHS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                bad(name, f"an integer from {low} to {high}")
        for name, low, high, low_open in (("lr", 0, 10, True), ("momentum", 0, 1, False),
                                          ("weight_decay", 0, 1, False), ("gamma", 0, 1, True),
                                          ("pct_start", 0, 1, True), ("label_smoothing", 0, 1, False)):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and (low < value if low_open else low <= value) and value <= high):
                bad(name, f"a number in {'(' if low_open else '['}{low}, {high}]")
        if not (isinstance(self.ema_decay, (int, float)) and not isinstance(self.ema_decay, bool)
                and 0 <= self.ema_decay < 1):
            bad("ema_decay", "a number in [0, 1); 0 turns the average off")
        if not isinstance(self.recalibrate_average, bool) or (self.recalibrate_average and not self.ema_decay):
            bad("recalibrate_average", "True or False, and True only with ema_decay > 0 (the average it recalibrates)")
        if not isinstance(self.teacher, str):
            bad("teacher", "a model file's path as a string (empty: no teacher)")
        known = isinstance(self.teacher_model, str) and (self.teacher_model in MODELS or self.teacher_model in ALIASES)
        if not (self.teacher_model == "" or known) or (self.teacher and not self.teacher_model):
            bad("teacher_model", f"the registered model the teacher file holds, one of {sorted(MODELS)} (empty "
                                 f"without a teacher)")
        for name, low, high in (("distill_temperature", 0, 100), ("distill_weight", 0, 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
                bad(name, f"a number in ({low}, {high}]")
        if not (isinstance(self.test_time_augment, (list, tuple)) and len(self.test_time_augment) == 0):
            from utils.tta import check_copies  # loaded by the runs that average over copies

            try:
                self.test_time_augment = check_copies(self.test_time_augment)
            except (ValueError, TypeError) as error:
                raise ConfigError("test_time_augment", self.test_time_augment, error) from None
        else:
            self.test_time_augment = []  # as check_copies gives it: a list, as JSON keeps it
        if self.eval_last_epochs and not TARGET_LAST_EPOCHS <= self.eval_last_epochs <= MAX_EPOCHS:
            bad("eval_last_epochs", f"0 (every epoch) or an integer from {TARGET_LAST_EPOCHS} (the epochs the target "
                                    f"is judged by) to {MAX_EPOCHS}")
        if self.clean_epochs > self.epochs:
            bad("clean_epochs", f"at most epochs ({self.epochs})")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"one of {list(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            bad("scheduler", f"one of {list(SCHEDULERS)}")
        self.check_lr_points()
        if self.split not in SPLITS:
            bad("split", f"one of {list(SPLITS)}")
        if self.precision not in PRECISIONS:
            bad("precision", f"one of {list(PRECISIONS)}")
        for name in ("smoke", "cuda_graphs", "compile_model"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "True or False")
        for name in ("data_dir", "checkpoint_dir"):
            if not isinstance(getattr(self, name), str):
                bad(name, "a path as a string")
        if not isinstance(self.device, str):
            bad("device", "'auto', 'cpu', 'cuda' or 'cuda:N'")
        try:
            self.augment = check_augment(self.augment)
        except (ValueError, TypeError) as error:
            raise ConfigError("augment", self.augment, error) from None
        self.resolved_device  # raises for a device this machine lacks

    def check_lr_points(self):
        """lr_points as JSON keeps them ([[epoch, share], ...]); ValueError unless they suit the scheduler."""
        points = self.lr_points
        if self.scheduler != "piecewise":
            if points not in ([], ()):
                raise ConfigError("lr_points", points, "empty unless scheduler is 'piecewise'")
            self.lr_points = []
            return
        pairs = isinstance(points, (list, tuple)) and len(points) >= 2 and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
            and p[0] >= 0 and 0 <= p[1] <= 1 for p in points)
        epochs = [p[0] for p in points] if pairs else []
        if not pairs or epochs[0] != 0 or epochs != sorted(set(epochs)) or epochs[-1] < self.epochs - 1:
            raise ConfigError("lr_points", points, "two or more [epoch, share of lr] pairs of finite numbers (shares "
                                                   "from 0 to 1), the epochs rising from 0 to at least the last "
                                                   f"({self.epochs - 1}, from 0)")
        self.lr_points = [list(point) for point in points]

    @property
    def resolved_device(self):
        """The torch.device to train on; 'auto' means cuda when present."""
        return resolve_device(self.device)

    def to_dict(self):
        return asdict(self)

    def _repr_markdown_(self):
        """How Jupyter shows a config: its recipe as a table, each ingredient with what it does."""
        return recipe_table(self.to_dict(), type(self)(model=self.model, device="cpu").to_dict())

    def experiment(self):
        """What this run trains, as JSON data: every field (defaults included) but where it runs.

        Two runs with equal experiments produce the same numbers (on the same machine and thread count)."""
        from utils.experiment import experiment_of  # loaded where runs are compared: a resume, the judge, the lab
        return experiment_of(self.to_dict())

    def differences(self, config):
        """'field: ours here, theirs there' for each experiment field where `config` (a config dict, as a record or
        checkpoint keeps it) differs from this one (utils.experiment.differences)."""
        from utils.experiment import differences
        return differences(self.to_dict(), config)
