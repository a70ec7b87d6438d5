import hashlib
import json

import torch

from utils.config import RunConfig
from utils.engine import History
from utils.models import build
from utils.plots import plot_curves, plot_misclassified
from utils.report import load_run_model, metrics_record, result_text, save_run


def history():
    return History([0.5, 0.2, 0.1], [90.0, 97.0, 98.0], [0.1, 0.05, 0.04], [97.0, 98.5, 99.0], [0.1, 0.1, 0.1],
                   [1.0, 1.0, 1.0])


def test_curves_are_a_two_by_two_grid_with_the_target_line():
    figure = plot_curves(history(), title="t")
    assert len(figure.axes) == 4
    assert [a.get_title() for a in figure.axes] == ["train loss", "test loss", "train accuracy (%)",
                                                   "test accuracy (%)"]
    assert list(figure.axes[3].lines[0].get_ydata()) == [97.0, 98.5, 99.0]
    assert figure.axes[3].lines[1].get_ydata()[0] == 99.4


def test_misclassified_grid_captions_true_and_predicted():
    labels = torch.tensor([1, 2, 3, 4])
    predictions = torch.tensor([1, 7, 3, 9])
    figure = plot_misclassified(torch.zeros(4, 1, 28, 28), labels, predictions)
    titles = [a.get_title() for a in figure.axes if a.get_title()]
    assert titles == ["2 -> 7", "4 -> 9"]
    assert "2 of 4" in figure._suptitle.get_text()


def test_save_run_writes_the_model_the_metrics_record_and_pngs(tmp_path):
    config = RunConfig(model="garam_masala", epochs=3, device="cpu")
    record = metrics_record("05_garam_masala", config, history(), 7536)
    model = build("garam_masala")
    save_run(tmp_path, record, {"curves": plot_curves(history())}, model)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("notebook", "model", "params", "epochs", "seed", "smoke", "device", "torch", "train_loss",
                "train_acc", "test_loss", "test_acc", "lr", "epoch_seconds", "best_test_acc",
                "first_epoch_at_target", "target_reached", "cpu", "cpu_capability", "threads", "python",
                "model_sha256"):
        assert key in saved
    assert saved["model_sha256"] == hashlib.sha256((tmp_path / "model.pt").read_bytes()).hexdigest()
    reloaded, reloaded_config = load_run_model(tmp_path / "model.pt")
    assert reloaded_config.experiment() == config.experiment()
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), model.state_dict().values()))
    assert saved["best_test_acc"] == 99.0 and saved["target_reached"] is False
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "best test accuracy: 99.00 %" in result_text(record)
    save_run("", record, {}, model)  # no output_dir: writes nothing, raises nothing
