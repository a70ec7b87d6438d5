"""Each search's candidates, as plain data: a base recipe and its changes by id (`python -m utils.lab.search STEM`).

A candidate is an id, the title a table shows (free to reword), and the RunConfig changes to its search's base;
records keep the id. Every candidate trains over seeds on the validation split and is ranked there; the winner is
judged on the test set once. The comments say what each set of candidates tests and why; what each search found is
in results/README.md (Searching without the test set). Standard library only, as utils.recipes.
"""
from utils.lab.ablation_plans import (BLOCKS_3948, CUT_BLOCKS, DESKEW, FIRST_RECIPE_07, FIRST_VARIANTS_07, POOL_FIRST,
                                      RECIPE_3948_06, RECIPE_NAME_06, SEARCH_BASE_08, STRIDE, STRIDE_192,
                                      STRIDE_192_LR_02, TTA_COPIES, WIDE_11_BLOCKS, layout)

# 05's model made cheaper per image without a parameter less (utils.models.garam_masala: the second conv strides by
# 2, or the max-pool comes right after the first conv), at batch 256 and 128, in 8 epochs and in 9 (the time the
# cheaper model saves, spent on one more epoch)
CHEAPER_MODELS_07 = {
    "stride": ("the second conv strides by 2 instead of a max-pool after it", STRIDE),
    "pool-first": ("the max-pool right after the first conv", POOL_FIRST),
    "stride-9-epochs": ("the second conv strides by 2, 9 epochs", {**STRIDE, "epochs": 9}),
    "pool-first-9-epochs": ("the max-pool right after the first conv, 9 epochs", {**POOL_FIRST, "epochs": 9}),
    "stride-batch-128": ("the second conv strides by 2, batch 128 (LR 0.1)", {**STRIDE, "batch_size": 128, "lr": 0.1}),
    "pool-first-batch-128": ("the max-pool right after the first conv, batch 128 (LR 0.1)",
                             {**POOL_FIRST, "batch_size": 128, "lr": 0.1}),
}

# The strided model at batch 192 (fewer steps per epoch than 128, each with its fixed cost), alone and with one more
# change that costs no time
BATCH_192_07 = {
    "stride-batch-192": ("the second conv strides by 2, batch 192 (LR 0.15)", STRIDE_192),
    "stride-batch-192-9-epochs": ("strided, batch 192 (LR 0.15), 9 epochs", {**STRIDE_192, "epochs": 9}),
    "stride-batch-192-lr-0.2": ("strided, batch 192, peak LR 0.2", {**STRIDE_192, "lr": 0.2}),
    "stride-batch-192-label-smoothing": ("strided, batch 192 (LR 0.15), label smoothing 0.1",
                                         {**STRIDE_192, "label_smoothing": 0.1}),
    "stride-batch-192-wd-5e-4": ("strided, batch 192 (LR 0.15), weight decay 5e-4",
                                 {**STRIDE_192, "weight_decay": 5e-4}),
    "stride-batch-192-clean-3": ("strided, batch 192 (LR 0.15), the last 3 epochs unaugmented (not 4)",
                                 {**STRIDE_192, "clean_epochs": 3}),
}

# The strided model at batch 192 and peak LR 0.2 with one or two more epochs, or a longer weight average (decay
# 0.999: about 3 epochs of 313 steps), which smooths the weights most where the LR is still high
LONGER_07 = {
    "stride-batch-192-lr-0.2-9-epochs": ("strided, batch 192, peak LR 0.2, 9 epochs",
                                         {**STRIDE_192_LR_02, "epochs": 9}),
    "stride-batch-192-lr-0.2-10-epochs": ("strided, batch 192, peak LR 0.2, 10 epochs",
                                          {**STRIDE_192_LR_02, "epochs": 10}),
    "stride-batch-192-lr-0.2-average-0.999": ("strided, batch 192, peak LR 0.2, a longer weight average (decay 0.999)",
                                              {**STRIDE_192_LR_02, "ema_decay": 0.999}),
    "stride-batch-192-lr-0.2-9-epochs-average-0.999": ("strided, batch 192, peak LR 0.2, 9 epochs, average decay 0.999",
                                                       {**STRIDE_192_LR_02, "epochs": 9, "ema_decay": 0.999}),
}

# More epochs at a lower cost each: a training step of the strided model spends most of its time in its two
# full-resolution layers (26x26x8); the space-to-depth front (utils.models.garam_masala; 216 parameters more) has none,
# and the time it saves per epoch pays for more epochs
SPACE_TO_DEPTH_192_LR_02 = {"model_args": {"downsample": "space-to-depth"}, "batch_size": 192, "lr": 0.2}
SPACE_TO_DEPTH_07 = {
    f"space-to-depth-{epochs}-epochs": (f"space-to-depth, batch 192, peak LR 0.2, {epochs} epochs",
                                        {**SPACE_TO_DEPTH_192_LR_02, "epochs": epochs}) for epochs in (8, 10, 12, 15)}
SPACE_TO_DEPTH_07["space-to-depth-batch-128-12-epochs"] = ("space-to-depth, batch 128 (LR 0.1), 12 epochs",
                                                           {**SPACE_TO_DEPTH_192_LR_02, "batch_size": 128, "lr": 0.1,
                                                            "epochs": 12})


# The strided model with a schedule whose last epochs train at one low LR, so that the last 3, which the target
# counts, are all nearly converged, where the one cycle is still annealing in epoch 6 of 8
def strided_192_step_schedule(lr, step_size, epochs):
    """The strided model at batch 192 under torch's StepLR: `lr` from the first step, a tenth of it from epoch
    step_size + 1 on."""
    return {**STRIDE_192, "scheduler": "step", "lr": lr, "step_size": step_size, "gamma": 0.1, "epochs": epochs}


STEP_LR_07 = {
    "stride-batch-192-step-5": ("strided, batch 192, LR 0.2 for 5 epochs, then 0.02 for 3",
                                strided_192_step_schedule(0.2, 5, 8)),
    "stride-batch-192-step-5-lr-0.1": ("strided, batch 192, LR 0.1 for 5 epochs, then 0.01 for 3",
                                       strided_192_step_schedule(0.1, 5, 8)),
    "stride-batch-192-step-6-9-epochs": ("strided, batch 192, LR 0.2 for 6 epochs, then 0.02 for 3",
                                         strided_192_step_schedule(0.2, 6, 9)),
    "stride-batch-192-step-6-9-epochs-lr-0.1": ("strided, batch 192, LR 0.1 for 6 epochs, then 0.01 for 3",
                                                strided_192_step_schedule(0.1, 6, 9)),
}

# Every seed first: notebook 07 promises the target on every seed, so its candidates are ranked by their worst seed.
# Its recipe (strided, batch 192, peak LR 0.2) with one more epoch than the 10 above, and 05's max-pool model, which
# costs about a third more time per epoch, at the same batch and LR in 8 and 9 epochs
POOL_192_LR_02 = {"batch_size": 192, "lr": 0.2}  # the base's max-pool model at the recipe's batch and peak LR
EVERY_SEED_07 = {
    "stride-batch-192-lr-0.2-11-epochs": ("strided, batch 192, peak LR 0.2, 11 epochs",
                                          {**STRIDE_192_LR_02, "epochs": 11}),
    "pool-batch-192-lr-0.2": ("05's max-pool, batch 192, peak LR 0.2, 8 epochs", POOL_192_LR_02),
    "pool-batch-192-lr-0.2-9-epochs": ("05's max-pool, batch 192, peak LR 0.2, 9 epochs",
                                       {**POOL_192_LR_02, "epochs": 9}),
}

# 05's max-pool model at batch 192 and peak LR 0.2 in 8 epochs reached the target on 7 of seeds 0-9 on the test set
# (results/07_speedrun.max-pool-8-epochs.seeds.json): more epochs, the lever that moved the score, in two steps
MORE_EPOCHS_07 = {
    f"pool-batch-192-lr-0.2-{epochs}-epochs": (f"05's max-pool, batch 192, peak LR 0.2, {epochs} epochs",
                                               {**POOL_192_LR_02, "epochs": epochs}) for epochs in (10, 12)}

# 07's former recipe (05's max-pool model, batch 192, peak LR 0.2, 12 epochs) with the speed levers: torch.compile and
# bfloat16 autocast (on a CPU with AVX-512 BF16; elsewhere float32, with a note), each measured about 10 to 20 % off
# an epoch, and the time they save spent on fewer epochs or a larger batch. That recipe itself
# (pool-batch-192-lr-0.2-12-epochs) runs beside them, on the same seeds and kernels.
RECIPE_07_CHANGES = {**POOL_192_LR_02, "epochs": 12}
LEVERS = {"compile_model": True, "precision": "bfloat16"}
LEVERS_07 = {
    **{f"levers-{epochs}-epochs": (f"07's recipe compiled, bfloat16, {epochs} epochs",
                                   {**RECIPE_07_CHANGES, **LEVERS, "epochs": epochs}) for epochs in (12, 11, 10)},
    "levers-batch-256-11-epochs": ("07's recipe compiled, bfloat16, batch 256, 11 epochs",
                                   {**RECIPE_07_CHANGES, **LEVERS, "batch_size": 256, "epochs": 11}),
}

# 06's searches look for a net under 3,600 parameters that holds on every seed. A net this small is short of
# capacity rather than of regularisation, so: wider convs after the pool with one conv's weights applied at several
# depths (utils.models.smallest, shared=True), against 06's 3,948 recipe itself, which sets the validation split's
# scale
SEARCH_06 = {
    "recipe-06": (RECIPE_NAME_06, {}),
    "shared-14": ("4-8 | 14-14-14-14, the last three convs one shared weight (3,372)",
                  layout(((4, 8), (14, 14, 14, 14)), shared=True)),
    "shared-14-deeper": ("4-8 | 14-14-14-14-14, the last four convs one shared weight (3,400)",
                         layout(((4, 8), (14, 14, 14, 14, 14)), shared=True)),
    "shared-12-deeper": ("4-8 | 12-12-12-12-12, the last four convs one shared weight (2,748)",
                         layout(((4, 8), (12, 12, 12, 12, 12)), shared=True)),
}

# The layout cut to 3,580 parameters (4-8 | 10-10-9-8), alone and with changes that cost no parameter. Two give the
# same weights more positions to work on: the max-pool one conv later, or padding 1 (14x14 maps after the pool
# instead of 10 down to 4). A stride-2 conv in place of the max-pool is not among them: it takes work away from a
# net short of capacity.
CUT_3580 = layout(CUT_BLOCKS)
SECOND_SEARCH_06 = {
    "cut-10-10-9-8": ("4-8 | 10-10-9-8 (3,580)", CUT_3580),
    "cut-label-smoothing": ("4-8 | 10-10-9-8, label smoothing 0.1 (3,580)", {**CUT_3580, "label_smoothing": 0.1}),
    "cut-pool-later": ("4-8-10 | 10-9-8: the max-pool one conv later (3,580)", layout(((4, 8, 10), (10, 9, 8)))),
    "cut-padding-1": ("4-8 | 10-10-9-8, padding 1: 28x28 maps, 14x14 after the pool (3,580)",
                      layout(CUT_BLOCKS, padding=1)),
}

# Deskewing (utils.deskew; no parameters), the classic MNIST preprocessing, as the net's first layer: a net short of
# capacity then spends none on slant. On 06's 3,948 recipe and on the cut, whose undeskewed trials (the same seeds)
# are the candidates above. The rotation still augments, and deskewing takes out much of the slant it adds: the two
# are measured together.
THIRD_SEARCH_06 = {
    "deskew": ("06's 3,948 recipe, deskewed", DESKEW),
    "cut-deskew": ("4-8 | 10-10-9-8, deskewed (3,580)", layout(CUT_BLOCKS, deskew=True)),
}

# One channel wider after the pool (4-8 | 11-11-11-11, 4,605 parameters), deskewed: notebook 06's net
FOURTH_SEARCH_06 = {
    "wide-11-deskew": ("4-8 | 11-11-11-11, deskewed (4,605)", layout(WIDE_11_BLOCKS, deskew=True)),
}

# Elastic distortion (utils.augment; Simard et al. 2003, their alpha 34 and sigma 4), the classic MNIST augmentation,
# on top of the rotation, on both deskewed candidates above: it varies strokes where rotation turns the whole digit,
# which a net this small may lack the capacity to use.
ELASTIC = {"augment": {**RECIPE_3948_06["augment"], "elastic": 34.0, "elastic_sigma": 4.0}}
FIFTH_SEARCH_06 = {
    "deskew-elastic": ("06's 3,948 recipe, deskewed, elastic distortion", {**DESKEW, **ELASTIC}),
    "cut-deskew-elastic": ("4-8 | 10-10-9-8, deskewed, elastic distortion (3,580)",
                           {**layout(CUT_BLOCKS, deskew=True), **ELASTIC}),
}

# The anchor's design (utils.models.three_stages: 4-4-4 | 8-8-8 | 8-8-8, padded, a max-pool after each of the first
# two resolutions; 3,692 parameters without the biases BatchNorm makes redundant) cut under 3,600 and trained as
# notebook 06's net is (SiLU, deskewed, no conv biases, no dropout, PyTorch's initialisation): built by
# utils.models.smallest with three resolutions and padding 1. Over seeds 0-9 on the test set the whole anchor net with
# 06's training stays 0.15 below 06's own 3,948 net (06's ablation), so each cut takes away where the anchor has the
# most to spare: one conv at 28x28 (its most costly resolution, 4 channels deep), a channel at 7x7, or the depth per
# resolution for width; and one cut under 3,000.
ANCHOR_CUT = {"padding": 1, "deskew": True}
ANCHOR_SEARCH_06 = {
    "anchor-cut-4-4": ("the anchor's layout, one conv fewer at 28x28: 4-4 | 8-8-8 | 8-8-8, padded, deskewed (3,540)",
                       layout(((4, 4), (8, 8, 8), (8, 8, 8)), **ANCHOR_CUT)),
    "anchor-cut-7-wide": ("the anchor's layout, 7 wide at 7x7: 4-4-4 | 8-8-8 | 7-7-7, padded, deskewed (3,334)",
                          layout(((4, 4, 4), (8, 8, 8), (7, 7, 7)), **ANCHOR_CUT)),
    "anchor-cut-two-convs": ("the anchor's layout, two wider convs per resolution: 6-6 | 10-10 | 9-9, padded, "
                             "deskewed (3,547)", layout(((6, 6), (10, 10), (9, 9)), **ANCHOR_CUT)),
    "anchor-cut-2948": ("the anchor's layout, one conv fewer at 28x28 and at 7x7: 4-4 | 8-8-8 | 8-8, padded, "
                        "deskewed (2,948)", layout(((4, 4), (8, 8, 8), (8, 8)), **ANCHOR_CUT)),
}

# 08: the deskewed cut above (3,580 parameters), which alone holds the target on 4 of 10 test seeds, taught by 05's
# recipe (trained on the validation split's 50,000 training images): half the loss from the teacher at temperature 4,
# or 0.9 of it (Hinton et al. weigh the labels far less), and the half-and-half with test-time augmentation (each
# validation image averaged with 6 copies: turned by ±5°, shifted by 1 px each way). The untaught cut's trials on the
# same split and seeds are 06's search's `cut-deskew`.
SEARCH_08 = {
    "taught": ("the cut taught by 05, temperature 4, half the loss from the teacher", {}),
    "taught-0.9": ("the cut taught by 05, temperature 4, 0.9 of the loss from the teacher", {"distill_weight": 0.9}),
    "taught-tta": ("the cut taught by 05, half the loss from the teacher, test-time augmentation (6 copies)",
                   {"test_time_augment": TTA_COPIES}),
}

# The first three ranked below the untaught cut on the same seeds (06's search), and 0.9 below 0.5: the teacher,
# itself only about 0.06 above the cut on the validation split, costs the cut more than it teaches. So less of it: a
# fifth of the loss; or its plain predictions (temperature 1), which on an augmented image say what the digit now
# looks like. The fifth with test-time augmentation trains the same weights as without it: the pair measures what
# the copies alone do, with every trial run to the end (`--scheduler none`: the median rule compares evaluations,
# and the copies of a half-trained net score lower).
SECOND_SEARCH_08 = {
    "taught-0.2": ("the cut taught by 05, temperature 4, a fifth of the loss from the teacher",
                   {"distill_weight": 0.2}),
    "taught-0.2-tta": ("the cut taught by 05, a fifth of the loss from the teacher, test-time augmentation",
                       {"distill_weight": 0.2, "test_time_augment": TTA_COPIES}),
    "taught-t1": ("the cut taught by 05, temperature 1, half the loss from the teacher", {"distill_temperature": 1.0}),
}

# Under 3,600 parameters the teacher moved nothing measurable, so the goal's fallback is the smallest taught net that
# meets the bar: the two nets above the cut, each deskewed and taught with the cut's best recipe (a fifth of the loss
# from the teacher, temperature 4). Their untaught trials on the same split and seeds are 06's search's `deskew` and
# `wide-11-deskew`.
THIRD_SEARCH_08 = {
    "taught-0.2-3948": ("06's 3,948 net deskewed, taught by 05, a fifth of the loss from the teacher",
                        {**layout(BLOCKS_3948, deskew=True), "distill_weight": 0.2}),
    "taught-0.2-4605": ("notebook 06's 4,605 net (deskewed), taught by 05, a fifth of the loss from the teacher",
                        {**layout(WIDE_11_BLOCKS, deskew=True), "distill_weight": 0.2}),
}

# stem: (the base, its candidates). 07's first candidates are its first ablation's variants, which were also judged
# on the test set, so that the two rankings can be compared (results/README.md, Searching without the test set).
SEARCHES = {
    "06_smallest": (RECIPE_3948_06, {**SEARCH_06, **SECOND_SEARCH_06, **THIRD_SEARCH_06, **FOURTH_SEARCH_06,
                                     **FIFTH_SEARCH_06, **ANCHOR_SEARCH_06}),
    "07_speedrun": (FIRST_RECIPE_07, {**FIRST_VARIANTS_07, **CHEAPER_MODELS_07, **BATCH_192_07, **LONGER_07,
                                      **SPACE_TO_DEPTH_07, **STEP_LR_07, **EVERY_SEED_07,
                                      **MORE_EPOCHS_07, **LEVERS_07}),
    "08_taught": (SEARCH_BASE_08, {**SEARCH_08, **SECOND_SEARCH_08, **THIRD_SEARCH_08}),
}
