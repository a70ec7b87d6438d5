"""The frontier of small nets in one picture: parameters against the mean over seeds 0-9 of the min of the last 3
epochs, each net's seeds as a range, how many held the target, and the anchor's published single run apart.

A net is drawn where results/ holds one run of each of seeds 0-9 of it on the test set: a seeds file, or an ablation
variant. results/README.md shows the figure (readme_images/frontier.png), drawn with its other generated parts.
"""
from utils.metrics import BAR_MEAN, BAR_SEEDS, TARGET_ACCURACY, min_last, small_net_bar

FRONTIER_FIGURE = "frontier.png"
SMALL_NET_PARAMS = 5000  # the frontier's nets: below this many parameters (05's 7,536 is far to the right)
# adilsammar/woolly-of-cv, assets/mnist: 3,762 parameters, 99.52 % at epoch 15 of one run, chosen on the test set
# (its notebook MNIST_ALBUMENTATION_3762_99.52.ipynb); its min of the last 3 epochs is not published
ANCHOR_PUBLISHED = {"params": 3762, "acc": 99.52, "label": "the anchor as published: one run, 99.52 % at epoch 15"}


def frontier_nets(groups):
    """[(label, params, records of seeds 0-9)] of the small nets among `groups` ({label: records}) that hold one
    test-set run of each of seeds 0-9, in the order of `groups`."""
    nets = []
    for label, records in groups.items():
        judged = [r for r in records if r["seed"] in BAR_SEEDS and r.get("config", {}).get("split", "test") == "test"]
        params = {r["params"] for r in judged}
        if sorted(r["seed"] for r in judged) == list(BAR_SEEDS) and len(params) == 1 and min(params) < \
                SMALL_NET_PARAMS:
            nets.append((label, params.pop(), judged))
    return nets


def ablation_groups(results_dir=None):
    """{'06 anchor': records, ...}: each ablation variant's current runs, named by notebook and variant id."""
    from utils.lab.ablation_plans import ABLATIONS
    from utils.lab.variants import load_ablation  # torch, through RunConfig: only when drawing
    from utils.results import ablation_path

    groups = {}
    for stem in ABLATIONS:
        for record in load_ablation(stem, ablation_path(stem, results_dir)):
            groups.setdefault(f"{stem[:2]} {record['variant']}", []).append(record)
    return groups


def distinct(nets):
    """`nets` by parameters, without a net whose runs one before it in `nets` already holds (an ablation row that
    re-made a seeds file's runs to the digit)."""
    seen, kept = set(), []
    for label, params, records in nets:
        key = (params, tuple(sorted((r["seed"], tuple(r["test_acc"])) for r in records)))
        if key not in seen:
            seen.add(key)
            kept.append((label, params, records))
    return sorted(kept, key=lambda net: net[1])


def plot_frontier(nets):
    """One point per net at (parameters, mean min of the last 3), a bar over its seeds' range, 'k/10' at target;
    green where it meets the bar for a small net, a triangle where it was taught; the anchor's published run as a
    star."""
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 5.5))
    same = {}  # nets of one size side by side, a few parameters apart on the axis, so that each shows
    for label, params, records in nets:
        same.setdefault(params, []).append(label)
    for label, params, records in nets:
        values = [min_last(r["test_acc"]) for r in records]
        place = same[params].index(label) - (len(same[params]) - 1) / 2
        params = params + 14 * place
        bar = small_net_bar(records)
        mean = sum(values) / len(values)
        axis.errorbar(params, mean, yerr=[[mean - min(values)], [max(values) - mean]], capsize=3,
                      marker="^" if records[0].get("teacher") else "o", linestyle="none",
                      color="tab:green" if bar["met"] else "tab:red")
        axis.annotate(f"{label}: {bar['at_target']}/10", (params, mean), textcoords="offset points", xytext=(6, -3),
                      fontsize=7)
    axis.scatter([ANCHOR_PUBLISHED["params"]], [ANCHOR_PUBLISHED["acc"]], marker="*", s=160, color="tab:purple",
                 label=ANCHOR_PUBLISHED["label"], zorder=3)
    axis.axhline(TARGET_ACCURACY, color="red", linestyle="--", linewidth=1, label=f"the target, {TARGET_ACCURACY} %")
    axis.axhline(BAR_MEAN, color="tab:green", linestyle=":", linewidth=1, label=f"the bar's mean, {BAR_MEAN} %")
    axis.set_xlabel("parameters")
    axis.set_ylabel("min of the last 3 epochs' test accuracy (%):\nmean over seeds 0–9, bar: lowest to highest")
    axis.set_title("small nets over seeds 0–9 (green: meets the bar for a small net; triangle: taught)", fontsize=10)
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
