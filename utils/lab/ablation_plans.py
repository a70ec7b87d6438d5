"""The ablations: each notebook recipe's variants, one change at a time, as plain data; and the bases that the
ablations and the searches (utils.lab.candidates) change.

A variant is a short id (what records keep), the title a table shows (free to reword) and the RunConfig changes to
its ablation's base, one idea each; the tables keep this order. `python -m utils.lab.ablation STEM` runs them.
"""
from utils.recipes import RECIPE_05, RECIPE_06, RECIPE_07, RECIPE_08


def layout(blocks, **more):
    """RunConfig changes that give the model other build arguments (see utils.models.smallest)."""
    return {"model_args": {"blocks": blocks, **more}}


# 05's recipe without its four ingredients that cost no parameter (05's first recipe): GAP model, rotation, one cycle
NO_PARAMETER_INGREDIENTS = ("clean_epochs", "ema_decay", "recalibrate_average", "weight_decay")
FIRST_RECIPE_05 = {name: value for name, value in RECIPE_05.items() if name not in NO_PARAMETER_INGREDIENTS}
# the base of 06's ablation: 05's first recipe at batch 32 with the `smallest` net (4-8 | 10-10-10-10, 3,948
# parameters, ReLU)
BASE_06 = dict(FIRST_RECIPE_05, model="smallest", batch_size=32, lr=0.05)
# the SiLU recipe: the base plus three changes that cost no parameters
SILU_RECIPE_CHANGES = dict(model="smallest_silu", clean_epochs=3, ema_decay=0.9995)
# notebook 06's training on the base's layout (06's 3,948 recipe): the SiLU recipe, weight decay, the average's
# BatchNorm statistics recomputed; 06's searches start from it
RECIPE_CHANGES_06 = {**SILU_RECIPE_CHANGES, "weight_decay": 1e-4, "recalibrate_average": True}
RECIPE_3948_06 = {**BASE_06, **RECIPE_CHANGES_06}
RECIPE_NAME_06 = "06's 3,948 recipe: the SiLU recipe + weight decay 1e-4 + the average's BatchNorm statistics " \
                 "recomputed"
WIDE_11_BLOCKS = RECIPE_06["model_args"]["blocks"]  # notebook 06's layout: 4,605 parameters with the deskewing
BLOCKS_3948 = ((4, 8), (10, 10, 10, 10))  # 06's 3,948 net (utils.models.smallest's default layout)
CUT_BLOCKS = ((4, 8), (10, 10, 9, 8))  # its last two convs narrower: 3,580 parameters
DESKEW = {"model_args": {"deskew": True}}  # every image deskewed by the model's first layer (utils.deskew)
NOTEBOOK_NAME_06 = "notebook 06: 06's 3,948 recipe 11 wide after the pool, every image deskewed first: " \
                   "4-8 | 11-11-11-11 (4,605)"

# 07's first recipe: 05's recipe in 8 epochs at batch 256 (peak LR 0.2), the last 4 epochs unaugmented; the base of
# 07's first ablation and of its searches
FIRST_RECIPE_07 = {**RECIPE_05, "epochs": 8, "batch_size": 256, "lr": 0.2, "clean_epochs": 4}
# cheaper fronts of 05's model with the same 7,536 parameters (utils.models.garam_masala)
STRIDE, POOL_FIRST = {"model_args": {"downsample": "stride"}}, {"model_args": {"downsample": "pool-first"}}
STRIDE_192 = {**STRIDE, "batch_size": 192, "lr": 0.15}
STRIDE_192_LR_02 = {**STRIDE_192, "lr": 0.2}

# 08's searches: each candidate taught by 05's recipe trained on the validation split's other 50,000 images
# (python -m utils.lab.teacher), never by 05's published model, which saw the 10,000 the search is ranked on
VALIDATION_TEACHER_08 = "results/05_garam_masala.validation.pt"
# 08's first recipe: 06's net cut to 4-8 | 10-10-9-8 and deskewed (3,580 parameters), taught by 05; the base of
# 08's searches and of its ablation
CUT_RECIPE_08 = {**RECIPE_08, **layout(CUT_BLOCKS, deskew=True)}
SEARCH_BASE_08 = {**CUT_RECIPE_08, "teacher": VALIDATION_TEACHER_08, "distill_weight": 0.5}

SEPARABLE_24 = layout(((4, 8), (24, 24, 24, 24)), separable=True)

# The best public net under 4,000 parameters (adilsammar/woolly-of-cv, assets/mnist: 3,762 parameters, 99.52 % at
# epoch 15 on one seed, chosen on the test set) with its own recipe as published, a measurement of it over seeds:
ANCHOR_RECIPE = dict(
    model="three_stages",  # 4-4-4 | 8-8-8 | 8-8-8 padded, biases, dropout 0.01, Xavier (utils.models): 3,762
    model_args={},
    epochs=15,
    batch_size=32,
    optimizer="sgd",
    momentum=0.9,
    weight_decay=0.0,
    lr=0.1,  # the peak of its schedule: 0.05 -> 0.1 at epoch 2 -> 0.01 at 8 -> 0.0025 at 12 -> 0 at 15, linear in
    scheduler="piecewise",  # between and held through each epoch (its CustomOneCycleLR)
    lr_points=((0, 0.5), (2, 1.0), (8, 0.1), (12, 0.025), (15, 0.0)),
    # albumentations' ShiftScaleRotate (±9 % shift and scale, ±7°; it reflects the border where we fill it black)
    # and RandomBrightnessContrast (±0.2 each), each on half of the images
    augment={"rotate": 7.0, "shift": 0.09, "scale": 0.09, "share": 0.5, "brightness": 0.2, "contrast": 0.2},
)
# the anchor's net (biases, dropout and Xavier kept) with notebook 06's training: SiLU, every image deskewed, one
# cycle at batch 32, rotation, the last 3 epochs unaugmented, the weight average with its BatchNorm statistics
# recomputed, weight decay
ANCHOR_06_TRAINING = {**RECIPE_06, "model": "three_stages", "model_args": {"activation": "silu", "deskew": True}}

# Each ablation's variants: a short id, which records keep, and the title a table shows (free to reword), with the
# RunConfig changes to the ablation's base, one idea each. The tables keep this order.
VARIANTS_06 = {
    "base": ("base", {}),
    "wide-12-12-10": ("three wider convs after the pool: 4-8 | 12-12-10", layout(((4, 8), (12, 12, 10)))),
    "pool-later": ("max-pool later (after 3 convs, RF 8)", layout(((4, 8, 10), (10, 10, 10)))),
    "two-pools": ("two max-pools, padding 1: 4-8 | 10-10 | 10-10", layout(((4, 8), (10, 10), (10, 10)), padding=1)),
    "squeeze-6": ("1x1 squeeze to 6 after the max-pool", {"model_args": {"squeeze": 6}}),
    "fc-head": ("fully connected head instead of GAP", {"model_args": {"head": "fc"}}),
    "separable-24": ("depthwise-separable convs after the pool, 24 wide", SEPARABLE_24),
    "no-augment": ("no augmentation", {"augment": {}}),
    "rotate-15": ("rotation ±15°", {"augment": {"rotate": 15.0}}),
    "rotate-shift-scale": ("rotation ±7° + shift 10 % + scale 10 %",
                           {"augment": {"rotate": 7.0, "shift": 0.1, "scale": 0.1}}),
    "constant-lr": ("no schedule: constant LR 0.01", {"scheduler": "none", "lr": 0.01}),
    "lr-0.1": ("one-cycle peak LR 0.1", {"lr": 0.1}),
    "batch-128": ("batch 128", {"batch_size": 128}),
    "dropout-5": ("dropout 5 %", {"model_args": {"dropout": 0.05}}),
    "label-smoothing": ("label smoothing 0.1", {"label_smoothing": 0.1}),
    "silu": ("SiLU instead of ReLU", {"model": "smallest_silu"}),
    "clean-3": ("unaugmented images in the last 3 epochs", {"clean_epochs": 3}),
    "average": ("evaluate a moving average of the weights (decay 0.9995)", {"ema_decay": 0.9995}),
    "silu-recipe": ("the SiLU recipe: SiLU + clean last 3 epochs + weight average", SILU_RECIPE_CHANGES),
    # beyond the table above: the SiLU recipe with other layouts, towards fewer parameters
    "silu-separable-24": ("the SiLU recipe with depthwise-separable convs after the pool, 24 wide",
                          {**SILU_RECIPE_CHANGES, **SEPARABLE_24}),
    "silu-separable-6-10-24": ("the separable recipe with wider full-resolution convs: 6-10 | 24-24-24-24",
                               {**SILU_RECIPE_CHANGES, **layout(((6, 10), (24, 24, 24, 24)), separable=True)}),
    "silu-separable-6-10-18": ("the same, 18 wide after the pool: 6-10 | 18-18-18-18",
                               {**SILU_RECIPE_CHANGES, **layout(((6, 10), (18, 18, 18, 18)), separable=True)}),
    # ... and with other training
    "silu-adam": ("the SiLU recipe with Adam, one-cycle peak LR 0.01",
                  {**SILU_RECIPE_CHANGES, "optimizer": "adam", "lr": 0.01}),
    "silu-wd-1e-4": ("the SiLU recipe with weight decay 1e-4", {**SILU_RECIPE_CHANGES, "weight_decay": 1e-4}),
    "silu-recalibrate": ("the SiLU recipe with the average's BatchNorm statistics recomputed before each test",
                         {**SILU_RECIPE_CHANGES, "recalibrate_average": True}),
    "recipe-06": (RECIPE_NAME_06, RECIPE_CHANGES_06),
    "recipe-06-separable-24": ("06's 3,948 recipe with depthwise-separable convs after the pool, 24 wide",
                               {**RECIPE_CHANGES_06, **SEPARABLE_24}),
    "recipe-06-wd-5e-4": ("06's 3,948 recipe with weight decay 5e-4", {**RECIPE_CHANGES_06, "weight_decay": 5e-4}),
    "recipe-06-batch-16": ("06's 3,948 recipe with batch 16", {**RECIPE_CHANGES_06, "batch_size": 16}),
    "recipe-06-average-0.9998": ("06's 3,948 recipe with a longer weight average (decay 0.9998)",
                                 {**RECIPE_CHANGES_06, "ema_decay": 0.9998}),
    "recipe-06-record-layout": ("06's 3,948 recipe with the record's layout: 4-4-4 | 8-8-8 | 8-8-8, padding 1",
                                {**RECIPE_CHANGES_06, **layout(((4, 4, 4), (8, 8, 8), (8, 8, 8)), padding=1)}),
    "recipe-06-clean-5": ("06's 3,948 recipe with the last 5 epochs unaugmented",
                          {**RECIPE_CHANGES_06, "clean_epochs": 5}),
    "recipe-06-clean-8": ("06's 3,948 recipe with the last 8 epochs unaugmented",
                          {**RECIPE_CHANGES_06, "clean_epochs": 8}),
    # under 3,600 parameters: three ways to cut the layout of 06's 3,948 recipe
    "recipe-06-10-10-9-8": ("06's 3,948 recipe with the last two convs narrower: 4-8 | 10-10-9-8 (3,580)",
                            {**RECIPE_CHANGES_06, **layout(CUT_BLOCKS)}),
    "recipe-06-8-wide-deeper": ("06's 3,948 recipe one conv deeper after the pool, 8 wide: 4-8 | 8-8-8-8-8 (3,388)",
                                {**RECIPE_CHANGES_06, **layout(((4, 8), (8, 8, 8, 8, 8)))}),
    "recipe-06-separable-1": ("06's 3,948 recipe with the first conv after the pool depthwise-separable (3,396)",
                              {**RECIPE_CHANGES_06, "model_args": {"separable": 1}}),
    # over the budget on purpose: how many parameters the recipe needs before every seed passes
    "recipe-06-12-wide": ("06's 3,948 recipe 12 wide after the pool: 4-8 | 12-12-12-12 (over 4,000)",
                          {**RECIPE_CHANGES_06, **layout(((4, 8), (12, 12, 12, 12)))}),
    "recipe-06-11-wide": ("06's 3,948 recipe 11 wide after the pool: 4-8 | 11-11-11-11 (over 4,000)",
                          {**RECIPE_CHANGES_06, **layout(WIDE_11_BLOCKS)}),
    # candidates of 06's searches on the validation split (utils/lab/candidates.py), judged on the test set
    "recipe-06-shared-14": ("06's 3,948 recipe, 4-8 | 14-14-14-14, the last three convs one shared weight (3,372)",
                            {**RECIPE_CHANGES_06, **layout(((4, 8), (14, 14, 14, 14)), shared=True)}),
    "recipe-06-deskew": ("06's 3,948 recipe, every image deskewed first",
                         {**RECIPE_CHANGES_06, **DESKEW}),
    # notebook 06's recipe ...
    "recipe-06-11-wide-deskew": (NOTEBOOK_NAME_06, RECIPE_06),
    # ... with one ingredient left out at a time (without the deskewing, and 10 wide: the rows recipe-06-11-wide
    # and recipe-06-deskew above). The weight average and its recomputed BatchNorm statistics count as one.
    "notebook-relu": ("notebook 06 with ReLU instead of SiLU", {**RECIPE_06, "model": "smallest"}),
    "notebook-no-clean-epochs": ("notebook 06 without the unaugmented last epochs",
                                 {**RECIPE_06, "clean_epochs": 0}),
    "notebook-no-average": ("notebook 06 without the weight average (and its recomputed BatchNorm statistics)",
                            {**RECIPE_06, "ema_decay": 0.0, "recalibrate_average": False}),
    "notebook-no-weight-decay": ("notebook 06 without weight decay", {**RECIPE_06, "weight_decay": 0.0}),
    # the best public net under 4,000 parameters, over seeds (#48)
    "anchor": ("the anchor as published, over seeds: adilsammar/woolly-of-cv's 3,762 net and recipe", ANCHOR_RECIPE),
    "anchor-06-training": ("the anchor's net with 06's training (SiLU, deskewed: 3,762)", ANCHOR_06_TRAINING),
    # the anchor's layout cut under 3,600 with 06's training: the first two of 06's search (utils/lab/candidates.py,
    # ranked by the worst seed on the validation split), judged on the test set
    "recipe-06-anchor-cut-two-convs": (
        "06's 3,948 recipe on the anchor's layout with two wider convs per resolution: 6-6 | 10-10 | 9-9, padded, "
        "deskewed (3,547)", {**RECIPE_CHANGES_06, **layout(((6, 6), (10, 10), (9, 9)), padding=1, deskew=True)}),
    "recipe-06-anchor-cut-7-wide": (
        "06's 3,948 recipe on the anchor's layout 7 wide at 7x7: 4-4-4 | 8-8-8 | 7-7-7, padded, deskewed (3,334)",
        {**RECIPE_CHANGES_06, **layout(((4, 4, 4), (8, 8, 8), (7, 7, 7)), padding=1, deskew=True)}),
}

# 05's ablation: its recipe, and the recipe with one ingredient left out at a time. The weight average and its
# recomputed BatchNorm statistics count as one ingredient: the recomputation exists only for the average.
VARIANTS_05 = {
    "base": ("base", {}),
    "no-clean-epochs": ("without the unaugmented last epochs", {"clean_epochs": 0}),
    "no-average": ("without the weight average (and its recomputed BatchNorm statistics)",
                   {"ema_decay": 0.0, "recalibrate_average": False}),
    "no-weight-decay": ("without weight decay", {"weight_decay": 0.0}),
}

# 07's first recipe with one thing changed: shorter, cleaner, steadier, smaller steps (07's first ablation, and its
# first search's candidates)
FIRST_VARIANTS_07 = {
    "base": ("base", {}),
    "7-epochs": ("7 epochs", {"epochs": 7}),
    "clean-5": ("the last 5 epochs unaugmented", {"clean_epochs": 5}),
    "no-augment": ("no augmentation", {"augment": {}, "clean_epochs": 0}),
    "average-0.996": ("a shorter weight average (decay 0.996: about one epoch of batch 256)", {"ema_decay": 0.996}),
    "batch-128": ("batch 128 (LR 0.1)", {"batch_size": 128, "lr": 0.1}),
}


# 07's ablation: 07's recipe in float32, uncompiled and in 12 epochs (its base, so that each lever is measured alone),
# and that base with one speed lever changed at a time (left out, or added; the levers of utils.levers fall back,
# with a note under the table, where the machine lacks them)
FLOAT32_RECIPE_07 = {**RECIPE_07, "epochs": 12, "precision": "float32", "compile_model": False}
VARIANTS_07 = {
    "base": ("base", {}),
    "stride": ("the second conv strided by 2 instead of 05's max-pool after it", STRIDE),
    "batch-128": ("05's batch 128 (peak LR 0.1)", {"batch_size": 128, "lr": 0.1}),
    "test-every-epoch": ("tested after every epoch, as 05", {"eval_last_epochs": 0}),
    "one-epoch-fewer": ("11 epochs (one fewer)", {"epochs": 11}),
    "compiled": ("the model trained through torch.compile", {"compile_model": True}),
    "bfloat16": ("bfloat16 autocast (needs AVX-512 BF16: run without the AVX2 cap)", {"precision": "bfloat16"}),
}

# 08's ablation, on its first recipe (the cut, whose teacher the searches tuned): without the teacher, and with
# test-time augmentation (the 6 copies its search tried: turned by ±5°, shifted by 1 px each way)
TTA_COPIES = ((0, 0, 5), (0, 0, -5), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0))
VARIANTS_08 = {
    "base": ("08's first recipe: 06's net cut to 3,580 and deskewed, taught by 05", {}),
    "untaught": ("without the teacher: the labels alone (06's deskewed cut)", {"teacher": ""}),
    "tta": ("with test-time augmentation (6 copies)", {"test_time_augment": TTA_COPIES}),
}

# stem: (the base every variant changes, the variants); `python -m utils.lab.ablation STEM` runs them
ABLATIONS = {
    "05_garam_masala": (RECIPE_05, VARIANTS_05),
    "06_smallest": (BASE_06, VARIANTS_06),
    "07_speedrun": (FLOAT32_RECIPE_07, VARIANTS_07),
    "08_taught": (CUT_RECIPE_08, VARIANTS_08),
}
