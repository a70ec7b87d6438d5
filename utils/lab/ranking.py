"""How a search judges its candidates from their trials' records, and how far two rankings agree.

A candidate is ranked by its worst seed, then by its mean: the lowest over seeds of the min of its last 3
validation epochs, higher first, and among equal lowest the higher mean; its sd and the seeds at >= 99.40 % stand
beside them. The worst seed comes first because a recipe promises the target on every seed, not on average. Only a
candidate whose every trial ran to the end is ranked; one with trials stopped early lost to the scheduler and is
listed after them. Standard library only: the README tools read searches without torch.
"""
import statistics

from utils.metrics import TARGET_ACCURACY, min_last, spread
from utils.provenance import machine_short
from utils.recipes import escape
from utils.tables import code_short


def finished(record):
    """Whether a trial ran every epoch of its config (a scheduler stopped it early otherwise)."""
    return record["epochs"] >= record["config"]["epochs"]


def by_candidate(records):
    """{candidate id: its trials' records, by seed}, in the order the candidates first appear."""
    grouped = {}
    for record in sorted(records, key=lambda r: r["seed"]):
        grouped.setdefault(record["variant"], []).append(record)
    return grouped


def ranking(records):
    """Candidate ids, best first: those with every trial finished by their lowest min-of-last-3 over seeds, then
    their mean (higher first); then those with trials stopped early, by how many they finished."""
    def key(item):
        trials = item[1]
        scores = [min_last(r["test_acc"]) for r in trials if finished(r)]
        lowest, mean = (min(scores), statistics.mean(scores)) if scores else (0.0, 0.0)
        return (0, 0, -lowest, -mean) if len(scores) == len(trials) else (1, -len(scores), -lowest, -mean)

    return [name for name, _ in sorted(by_candidate(records).items(), key=key)]


def search_table(records, titles):
    """The ranking as Markdown: per candidate (titles: {id: title}), its trials finished and stopped (at which
    epoch), and over the finished ones the mean ± sd and lowest of the min of the last 3 validation epochs and the
    seeds at >= 99.40 %."""
    grouped = by_candidate(records)
    header = ("| rank | candidate | params | seeds | finished | stopped early (seed: after epoch) "
              "| val min(last 3): mean ± sd | lowest | ≥ 99.40 % | machine | code |")
    rows = [header, "|---:|---|---:|---|---:|---|---:|---:|---:|---|---|"]
    for rank, name in enumerate(ranking(records), 1):
        trials = grouped[name]
        done = [r for r in trials if finished(r)]
        stopped = ", ".join(f"{r['seed']}: {r['epochs']}" for r in trials if not finished(r)) or "–"
        if done:
            s = spread(done)
            summary = (f"{s['mean']:.2f} ± {s['sd']:.2f} % | {s['lowest']:.2f} % "
                       f"| {sum(min_last(r['test_acc']) >= TARGET_ACCURACY for r in done)}/{len(done)}")
        else:
            summary = "– | – | –"
        rows.append(f"| {rank if len(done) == len(trials) else '–'} | {escape(titles.get(name, name))} "
                    f"| {trials[0]['params']:,} | {', '.join(str(r['seed']) for r in trials)} "
                    f"| {len(done)}/{len(trials)} | {stopped} | {summary} "
                    f"| {', '.join(sorted({machine_short(r) for r in trials}))} "
                    f"| {', '.join(sorted({code_short(r) for r in trials}))} |")
    return "\n".join(rows)


def search_cost(records):
    """What a search ran against running every trial to the end: {'trials', 'stopped', 'epochs', 'full_epochs',
    'seconds'}: trials started and stopped early, epochs trained and planned, and seconds of fit() and loading."""
    return {"trials": len(records), "stopped": sum(not finished(r) for r in records),
            "epochs": sum(r["epochs"] for r in records),
            "full_epochs": sum(r["config"]["epochs"] for r in records),
            "seconds": sum(r["fit_seconds"] + r["load_seconds"] for r in records)}


def ranks(values):
    """1-based ranks of `values`, highest first; ties share their mean rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    result = [0.0] * len(values)
    position = 0
    while position < len(order):
        tied = [i for i in order[position:] if values[i] == values[order[position]]]
        for i in tied:
            result[i] = position + (len(tied) + 1) / 2
        position += len(tied)
    return result


def rank_agreement(first, second):
    """How far two scores of the same candidates ({id: score}, higher is better) rank them alike: Spearman's rank
    correlation over the candidates both score (1: the same order, -1: reversed), and how many there were."""
    shared = [name for name in first if name in second]
    if len(shared) < 2:
        return None, len(shared)
    one, two = ranks([first[n] for n in shared]), ranks([second[n] for n in shared])
    if len(set(one)) == 1 or len(set(two)) == 1:  # every score tied on one side: no order to compare
        return None, len(shared)
    mean = (len(shared) + 1) / 2
    covariance = sum((a - mean) * (b - mean) for a, b in zip(one, two))
    spread_one = sum((a - mean) ** 2 for a in one) ** 0.5
    spread_two = sum((b - mean) ** 2 for b in two) ** 0.5
    return covariance / (spread_one * spread_two), len(shared)
