"""The frontier of small nets (utils.lab.frontier): which nets it draws, and each once."""
import matplotlib

from utils.lab.frontier import SMALL_NET_PARAMS, distinct, frontier_nets, plot_frontier

matplotlib.use("Agg")


def run(seed, acc=99.45, params=3762, split="test", teacher=None):
    return {"seed": seed, "params": params, "test_acc": [99.0] * 12 + [acc] * 3, "config": {"split": split},
            "target_reached": acc >= 99.40, "teacher": teacher}


def test_a_net_is_drawn_with_one_test_set_run_of_each_of_seeds_0_to_9_and_fewer_parameters_than_the_limit():
    groups = {
        "anchor": [run(s) for s in range(10)] + [run(11)],  # another seed beside them: left out
        "five seeds": [run(s) for s in range(5)],
        "validation": [run(s, split="validation") for s in range(10)],
        "seed twice": [run(s) for s in range(9)] + [run(8)],
        "big": [run(s, params=SMALL_NET_PARAMS) for s in range(10)],
    }
    nets = frontier_nets(groups)
    assert [(label, params, len(records)) for label, params, records in nets] == [("anchor", 3762, 10)]


def test_an_ablation_row_that_remade_a_seeds_files_runs_is_drawn_once_under_the_files_name():
    seeds = [run(s, 99.40 + s / 100) for s in range(10)]
    other = [run(s, 99.50, params=3580) for s in range(10)]
    nets = distinct(frontier_nets({"06_smallest": seeds, "06 notebook-row": [dict(r) for r in seeds],
                                   "06 cut": other}))
    assert [label for label, _, _ in nets] == ["06 cut", "06_smallest"]
    figure = plot_frontier(nets)
    assert figure.axes[0].get_xlabel() == "parameters"
