"""Every notebook's training recipe, as one literal each, as plain data.

A recipe is the RunConfig fields that define what a notebook trains (model, its build arguments in `model_args`,
schedule, augmentation, ...), read top to bottom, one comment per ingredient where it first appears; where a run
happens (device, data folder, seed, smoke mode) is left to the caller. Notebooks build their config with
RunConfig.from_recipe(stem, ...); the lab's runs (seeds, ablations, searches, the bench) start from here too.
A recipe shows as a table of its ingredients, each with what it does (recipe_table, ingredient_value; escape and
taught_by word a table's cells). Standard library only, so that any tool can read a recipe without torch.
"""

# 01-04: the seed's training, the same for the four models: plain SGD with momentum, no schedule, no augmentation
SEED_TRAINING = dict(
    epochs=15,
    batch_size=128,
    optimizer="sgd",
    lr=0.015,
    scheduler="none",  # the LR stays at 0.015 throughout
)

RECIPE_05 = dict(
    model="garam_masala",  # GAP head, max-pool at RF 6, no dropout: 7,536 parameters
    epochs=15,
    batch_size=128,
    optimizer="sgd",
    lr=0.1,  # the peak of the one cycle
    scheduler="onecycle",  # warm up over the first 20 % of the steps, then anneal to almost zero
    pct_start=0.2,
    augment={"rotate": 7.0},  # every training image turned by up to ±7°, anew each epoch
    clean_epochs=3,  # the last 3 epochs on unturned images, the distribution the test set has
    ema_decay=0.998,  # evaluate a moving average of the weights: about the last 500 steps, one epoch
    recalibrate_average=True,  # ... with BatchNorm statistics recomputed for the average's own weights
    weight_decay=1e-4,  # pulls every weight towards zero a little each step
)

RECIPE_06 = dict(
    model="smallest_silu",  # 05's shape, narrow, SiLU after every BatchNorm: a little gradient below zero
    model_args={"blocks": ((4, 8), (11, 11, 11, 11)),  # channels per resolution, a max-pool between: 4,605 parameters
                "deskew": True},  # every digit sheared upright first, by a layer without parameters
    epochs=15,
    batch_size=32,  # more, smaller steps: a net this small learns from each
    optimizer="sgd",
    lr=0.05,  # the peak of the one cycle
    scheduler="onecycle",
    pct_start=0.2,
    augment={"rotate": 7.0},
    clean_epochs=3,
    ema_decay=0.9995,  # a longer average than 05's: about 2,000 steps of batch 32, one epoch
    recalibrate_average=True,
    weight_decay=1e-4,
)

RECIPE_07 = dict(
    model="garam_masala",  # 05's model, max-pool and all: the cheaper strided conv does not hold on every seed
    epochs=10,  # 05's has 15: at batch 192 under half of 05's steps; 8 epochs do not hold on every seed
    batch_size=192,  # fewer, larger steps: each step has a fixed cost
    optimizer="sgd",
    lr=0.2,  # a larger batch takes a larger peak LR
    scheduler="onecycle",
    pct_start=0.2,
    augment={"rotate": 7.0},
    clean_epochs=4,  # the last 4 on unturned images, so that the 3 the target counts follow a clean epoch
    ema_decay=0.998,
    recalibrate_average=True,
    weight_decay=1e-4,
    eval_last_epochs=3,  # test only the 3 epochs the target counts: the others would only cost time
    precision="bfloat16",  # the forward in bfloat16 where the machine has it (AVX-512 BF16, a GPU from Ampere on)
    compile_model=True,  # trained through torch.compile where it can build kernels (a C++ compiler, or Triton)
)

RECIPE_08 = dict(
    model="smallest_silu",  # notebook 06's net, 4-8 | 11-11-11-11, every digit deskewed first: 4,605 parameters
    model_args={"blocks": ((4, 8), (11, 11, 11, 11)), "deskew": True},
    epochs=15,
    batch_size=32,
    optimizer="sgd",
    lr=0.05,
    scheduler="onecycle",
    pct_start=0.2,
    augment={"rotate": 7.0},
    clean_epochs=3,
    ema_decay=0.9995,
    recalibrate_average=True,
    weight_decay=1e-4,  # to here 06's training
    teacher="results/05_garam_masala.pt",  # notebook 05's published model (7,536 parameters, 60,000 training images)
    teacher_model="garam_masala",  # the registered model that file holds
    distill_temperature=4.0,  # softens the teacher's outputs; Hinton et al. found 2.5-4 best for small students
    distill_weight=0.2,  # a fifth of the loss from the teacher's softened outputs, the rest from the labels
)

RECIPES = {
    "01_baseline": dict(SEED_TRAINING, model="baseline"),
    "02_batchnorm": dict(SEED_TRAINING, model="batchnorm"),
    "03_dropout": dict(SEED_TRAINING, model="dropout"),
    "04_param_diet": dict(SEED_TRAINING, model="param_diet"),
    "05_garam_masala": RECIPE_05,
    "06_smallest": RECIPE_06,
    "07_speedrun": RECIPE_07,
    "08_taught": RECIPE_08,
}

# What each ingredient does, as a notebook's recipe table shows it beside its value (recipe_table).
INGREDIENTS = {
    "model": "the network (utils/models.py), with its build arguments",
    "epochs": "passes over the training images (60,000; 50,000 on the validation split); the target counts the "
              "last 3 of at most 15",
    "batch_size": "images per SGD step",
    "optimizer": "the update rule",
    "lr": "the learning rate (with the one-cycle schedule: its peak)",
    "momentum": "SGD's running average of past gradients",
    "scheduler": "how the LR changes: constant, stepped, one cycle (warm up, then anneal), or piecewise by epoch",
    "pct_start": "share of the steps that warm the LR up to its peak",
    "lr_points": "the piecewise schedule's [epoch, share of the peak LR] points, the LR linear between them and held "
                 "through each epoch",
    "weight_decay": "pulls every weight towards zero a little each step",
    "label_smoothing": "trains towards 0.9 for the true class instead of 1",
    "augment": "random rotation (±degrees), shift and scale of every training image (or of a share of them), "
               "brightness and contrast, each epoch anew",
    "clean_epochs": "the last N epochs train on unaugmented images, the distribution of the test set "
                    "(at most the run's epochs: a shorter run keeps min(N, epochs))",
    "ema_decay": "a moving average of the weights is evaluated and kept (decay d: about the last 1/(1-d) steps)",
    "recalibrate_average": "the average's BatchNorm statistics are recomputed for its own weights before each test",
    "eval_last_epochs": "test only after the last N epochs (0: after every epoch); the others train the same, "
                        "their test would only cost time",
    "precision": "float32, or bfloat16: the forward pass under autocast where the machine has native bfloat16 "
                 "(else float32, with a note)",
    "compile_model": "train the model through torch.compile where it can build kernels (else uncompiled, with a note)",
    "teacher": "a trained model whose softened outputs the model learns from beside the labels (utils/distill.py)",
    "teacher_model": "the registered model the teacher file holds",
    "distill_temperature": "divides both nets' logits before the softmax: the teacher's doubts between digits show",
    "distill_weight": "the teacher's share of the loss; the labels have the rest",
    "test_time_augment": "shifted or turned copies of every test image: the prediction averages over them",
    "split": "what the run is evaluated on: the test set, or 10,000 training images held out (validation; the "
             "model then trains on the other 50,000 and the test set is not read)",
}

ALWAYS_SHOWN = ("model", "epochs", "batch_size", "optimizer", "lr")  # a recipe's table shows these even at default


def with_rules(recipe, changes):
    """The recipe with `changes` (a user's knobs) and the rules between knobs applied: a run shorter than the
    recipe's unaugmented last epochs keeps as many as it has (clean_epochs = min(clean_epochs, epochs))."""
    result = {**recipe, **changes}
    epochs, clean = result.get("epochs"), result.get("clean_epochs", 0)
    if "clean_epochs" not in changes and type(epochs) is int and type(clean) is int and clean > epochs >= 1:
        result["clean_epochs"] = epochs
    return result


def escape(text):
    """A table cell's text with '|' escaped, so that it does not split the cell."""
    return text.replace("|", r"\|")


def taught_by(record):
    """'taught by 05' for a run that learned from a teacher (utils.distill) of notebook 05's recipe, else ''."""
    teacher = record.get("teacher")
    if not teacher:
        return ""
    return f"taught by {teacher['notebook'][:2]}" if teacher.get("notebook") else f"taught by {teacher['file']}"


def ingredient_value(name, config):
    """An ingredient's value as a recipe table shows it."""
    value = config[name]
    if name == "model" and config["model_args"]:
        return f"`{value}` " + ", ".join(f"{k}={v}" for k, v in config["model_args"].items())
    if name == "model":
        return f"`{value}`"
    if name == "augment":
        shown = {"rotate": "rotation ±{:g}°", "shift": "shift ±{:.0%}", "scale": "scale ±{:.0%}",
                 "elastic": "elastic α {:g} px", "brightness": "brightness ±{:g}", "contrast": "contrast ±{:g}"}
        parts = [form.format(value[k]) for k, form in shown.items() if value.get(k)]
        if value.get("elastic"):
            parts[parts.index(shown["elastic"].format(value["elastic"]))] += f" (σ {value['elastic_sigma']:g} px)"
        if "share" in value and parts:
            parts.append(f"each on {value['share']:.0%} of the images")
        return ", ".join(parts) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def recipe_table(config, defaults):
    """A config's recipe as Markdown: ingredient, value, what it does (INGREDIENTS), for every
    ingredient away from its default (`defaults`, a config dict) and the basic ones; then where the run happens."""
    shown = [name for name in INGREDIENTS if name in ALWAYS_SHOWN or config[name] != defaults[name]
             or (name == "momentum" and config["optimizer"] == "sgd")]
    rows = ["| ingredient | value | what it does |", "|---|---|---|"]
    rows += [f"| {name} | {escape(ingredient_value(name, config))} | {INGREDIENTS[name]} |" for name in shown]
    where = f"seed {config['seed']}, device {config['device']}, MNIST in `{config['data_dir']}`"
    return "\n".join(rows + ["", where + (" — **smoke run**: a few epochs on a few thousand images, numbers mean "
                                           "nothing" if config["smoke"] else "")])
