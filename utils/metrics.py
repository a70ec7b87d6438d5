"""The target rule, and how runs are judged: one run by its last epochs, a recipe by its spread over seeds (a small
net's by the bar over seeds 0-9), a change by its difference from the recipe, seed by seed.

Standard library only at import (paired_difference loads scipy when called): the runner judges records without
torch or scipy.
"""
import statistics

TARGET_ACCURACY = 99.40  # percent test accuracy ...
TARGET_LAST_EPOCHS = 3  # ... held in each of the last this-many epochs ...
EPOCH_LIMIT = 15  # ... of a run of at most this many epochs ...
PARAM_LIMIT = 8000  # ... by a model with fewer parameters than this
BAR_SEEDS = range(10)  # the bar for a small net: a recipe judged over seeds 0-9 ...
BAR_AT_TARGET = 9  # ... at least this many of them at the target ...
BAR_MEAN = 99.45  # ... and their min of the last 3 epochs at least this on average (percent)


def first_epoch_at_target(test_acc):
    """1-based epoch of the first test accuracy >= the target, or None."""
    return next((epoch for epoch, acc in enumerate(test_acc, 1) if acc is not None and acc >= TARGET_ACCURACY), None)


def min_last(test_acc):
    """The worst of the last 3 epochs' test accuracies: what the target is judged by. An epoch not tested (None,
    RunConfig.eval_last_epochs) does not count: a search trial stopped early may have fewer than 3 tested."""
    return min(acc for acc in test_acc[-TARGET_LAST_EPOCHS:] if acc is not None)


def target_reached(test_acc, params, param_limit=PARAM_LIMIT):
    """True when each of the last 3 epochs of a <= 15-epoch run is >= 99.40 % with < `param_limit` parameters."""
    return (TARGET_LAST_EPOCHS <= len(test_acc) <= EPOCH_LIMIT and params < param_limit
            and None not in test_acc[-TARGET_LAST_EPOCHS:] and min_last(test_acc) >= TARGET_ACCURACY)


def spread(records):
    """A recipe judged over seeds: {'runs', 'at_target', 'mean', 'sd', 'lowest', 'median_first_epoch'} of the
    records' min of the last 3 epochs (sd is the sample standard deviation; 0 for one run). Records without a
    first epoch at target (an ablation's) give a median_first_epoch of None."""
    worst = [min_last(r["test_acc"]) for r in records]
    firsts = [r["first_epoch_at_target"] for r in records if r.get("first_epoch_at_target") is not None]
    return {"runs": len(records), "at_target": sum(bool(r["target_reached"]) for r in records),
            "mean": statistics.mean(worst), "sd": statistics.stdev(worst) if len(worst) > 1 else 0.0,
            "lowest": min(worst), "median_first_epoch": statistics.median(firsts) if firsts else None}


def small_net_bar(records, param_limit=PARAM_LIMIT):
    """The bar for a small net, a recipe's over seeds 0-9 (runs of other seeds are left out): at least 9 of them at
    the target, a mean min of the last 3 of at least 99.45 % and fewer than `param_limit` parameters; not met
    without one run of each seed. Returns spread()'s dict of those runs with 'met', 'rule' (the bar in words),
    'figures' (the runs', and what falls short) and 'text' (the three in a sentence)."""
    judged = [r for r in records if r["seed"] in BAR_SEEDS]
    rule = (f"the bar for a small net: at least {BAR_AT_TARGET} of seeds 0–{BAR_SEEDS[-1]} at the target and a mean "
            f"min of the last {TARGET_LAST_EPOCHS} ≥ {BAR_MEAN:.2f} %, with < {param_limit:,} parameters")
    if sorted(r["seed"] for r in judged) != list(BAR_SEEDS):
        s = {"runs": len(judged), "met": False,
             "figures": f"not judged: {len(judged)} runs of seeds 0–{BAR_SEEDS[-1]}, one of each needed"}
    else:
        s, params = spread(judged), judged[0]["params"]
        short = [why for why, fails in (("seeds at the target", s["at_target"] < BAR_AT_TARGET),
                                        ("mean", round(s["mean"], 9) < BAR_MEAN),  # round: no float residue
                                        ("parameters", params >= param_limit)) if fails]
        s["met"] = not short
        s["figures"] = (f"{s['at_target']} of {s['runs']} seeds at the target, mean {s['mean']:.2f} %, {params:,} "
                        f"parameters" + (f" (short on: {', '.join(short)})" if short else ""))
    return {**s, "rule": rule, "text": f"{rule}: {'met' if s['met'] else 'not met'}: {s['figures']}"}


def paired_difference(pairs, confidence=0.95):
    """A change judged against a base over the same seeds: pairs is [(base, change)] of one number each (the min of
    the last 3 epochs). Returns {'n', 'mean', 'low', 'high', 'higher', 'lower', 'p_sign', 'verdict'}: the mean of
    change - base and its `confidence` interval from a paired t-test (scipy.stats.ttest_rel), how many pairs went up
    and down, and 'better' (the interval above 0), 'worse' (below 0) or 'noise'. Where the differences have no
    spread (one pair, or every pair moved by the same amount) there is no interval (None): the verdict is then an
    exact sign test's (p_sign, scipy.stats.binomtest), which needs 6 pairs that all moved one way."""
    from scipy import stats  # here, not at import: the runner loads this module without it

    base, change = [b for b, _ in pairs], [c for _, c in pairs]
    differences = [round(c - b, 9) for b, c in pairs]  # percentages with two decimals: no float residue
    mean = round(statistics.mean(differences), 9) + 0.0  # + 0.0: no '-0.00' for a mean of nothing
    higher, lower = sum(d > 0 for d in differences), sum(d < 0 for d in differences)
    low = high = p_sign = None
    if len(set(differences)) > 1:
        interval = stats.ttest_rel(change, base).confidence_interval(confidence)
        low, high = float(interval.low), float(interval.high)
        verdict = "noise" if low <= 0 <= high else "better" if low > 0 else "worse"
    else:
        p_sign = float(stats.binomtest(higher, higher + lower).pvalue) if higher + lower else 1.0
        verdict = "noise" if p_sign >= 1 - confidence else "better" if mean > 0 else "worse"
    return {"n": len(pairs), "mean": mean, "low": low, "high": high, "higher": higher, "lower": lower,
            "p_sign": p_sign, "verdict": verdict}
