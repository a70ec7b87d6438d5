"""A taught run (utils.distill) and test-time augmentation (utils.tta): the loss, the teacher a run learns
from and what its record keeps, the copies a test averages over, and the search's teacher that never saw a
validation image. The bad teacher files are in the fault suite (tests/test_faults.py, test_teacher_*)."""
import pytest
import torch
import torch.nn.functional as F

from utils.config import ConfigError, RunConfig
from utils.data import BACKGROUND, load_validation_split, validation_indices
from utils.distill import describe_teacher, distillation_loss, load_teacher, teacher_record
from utils.engine import build_model, evaluate, fit, predict
from utils.experiment import as_json
from utils.files import read_json, sha256
from utils.lab.search import search_plan
from utils.lab.teacher import train_teacher
from utils.mnist import load_raw
from utils.recipes import RECIPES
from utils.results import validation_model_path
from utils.tta import averaged_log_probabilities, check_copies, copies_of


def test_the_loss_is_the_labels_cross_entropy_and_the_teachers_softened_kl_weighed():
    torch.manual_seed(0)
    logits, teacher, labels = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    hard = F.cross_entropy(logits, labels)
    soft = F.kl_div(F.log_softmax(logits / 4, 1), F.softmax(teacher / 4, 1), reduction="batchmean") * 16
    assert torch.allclose(distillation_loss(logits, teacher, labels, 4.0, 0.5), 0.5 * hard + 0.5 * soft)
    assert torch.allclose(distillation_loss(logits, logits, labels, 4.0, 1.0), torch.tensor(0.0), atol=1e-6)


def test_a_taught_run_learns_otherwise_than_an_untaught_one_and_its_record_names_the_teacher(small_mnist):
    taught = RunConfig.from_recipe("08_taught", epochs=1, device="cpu", smoke=True)
    alone = RunConfig.from_recipe("08_taught", epochs=1, device="cpu", smoke=True, teacher="", teacher_model="")
    history = fit(build_model(taught), small_mnist, taught, progress="none")
    untaught = fit(build_model(alone), small_mnist, alone, progress="none")
    assert history.train_loss != untaught.train_loss and untaught.teacher is None
    teacher = load_teacher(taught)
    assert history.teacher == teacher.info and teacher.info["model"] == "garam_masala"
    assert teacher.info["params"] == 7536 and teacher.info["split"] == "test"
    assert not any(p.requires_grad for p in teacher.model.parameters()) and not teacher.model.training
    again = fit(build_model(taught), small_mnist, taught, progress="none")
    assert again.train_loss == history.train_loss and again.test_acc == history.test_acc  # repeats to the digit


def test_the_published_teachers_cost_is_read_from_its_own_record():
    teacher = load_teacher(RunConfig.from_recipe("08_taught", device="cpu"))
    record = teacher_record(teacher.info)
    assert record is not None and record["notebook"] == "05_garam_masala" and record["epochs"] == 15
    assert f"fit() {record['fit_seconds']:.0f} s" in describe_teacher(teacher)


def test_the_searchs_teacher_never_saw_a_validation_image(mnist_dir):
    """Every candidate of 08's search learns from results/05_garam_masala.validation.pt, trained with
    split='validation': on the 50,000 training images outside the validation split, which load_validation_split
    serves, none of them one of the 10,000 held out."""
    plan = search_plan("08_taught")
    assert {plan.config(name, 0).teacher for name in plan.variants} == {"results/05_garam_masala.validation.pt"}
    teacher = load_teacher(plan.config("taught", 0, device="cpu"))  # refuses a teacher of the 60,000 (test_faults)
    assert teacher.info["split"] == "validation"
    state = torch.load(validation_model_path("05_garam_masala"), weights_only=True)
    assert state["config"]["split"] == "validation" and not state["config"]["smoke"]
    record = teacher_record(teacher.info)
    assert record["config"]["split"] == "validation" and record["kind"] == "teacher"
    images, labels = load_raw(mnist_dir, parts=("train",))["train"]
    held_out = set(validation_indices(labels).tolist())
    split = load_validation_split(mnist_dir)
    assert len(split.train_labels) == 50_000 and len(held_out) == 10_000
    trained_on = torch.tensor(sorted(set(range(len(labels))) - held_out))
    assert torch.equal(split.train_labels, labels[trained_on].long())  # exactly the images outside the split


def test_a_copy_moves_the_digit_by_whole_pixels_and_turns_it():
    images = torch.full((1, 1, 28, 28), BACKGROUND)
    images[0, 0, 10, 12] = 1.0
    right = copies_of(images, (1.0, 0.0, 0.0))
    down = copies_of(images, (0.0, -2.0, 0.0))
    assert right[0, 0, 10, 13] == pytest.approx(1.0) and down[0, 0, 8, 12] == pytest.approx(1.0)
    turned = copies_of(images, (0.0, 0.0, 90.0))  # clockwise about the centre (13.5, 13.5): (x, y) -> (27-y, x)
    assert turned[0, 0, 12, 17] == pytest.approx(1.0, abs=1e-4)


def test_copies_are_checked_and_an_empty_list_evaluates_the_image_alone(small_mnist):
    assert check_copies([[1, 0, 0], (0, -1, 5)]) == [[1.0, 0.0, 0.0], [0.0, -1.0, 5.0]]
    for bad in ("shift", [(1, 0)], [(5, 0, 0)], [(0, 0, 31)], [(0, 0, 0)], [(1, 0, True)], [(float("nan"), 0, 0)]):
        with pytest.raises(ValueError):
            check_copies(bad)
    model = build_model(RunConfig(model="smallest", device="cpu"))
    images, labels = small_mnist.test_images[:200], small_mnist.test_labels[:200]
    plain = evaluate(model, images, labels)
    assert evaluate(model, images, labels, copies=()) == plain
    averaged = evaluate(model, images, labels, copies=((1, 0, 0), (0, 0, 5)))
    assert averaged != plain
    assert 100 * float((predict(model, images, copies=((1, 0, 0), (0, 0, 5))) == labels).float().mean()) == \
        pytest.approx(averaged["acc"])


def test_the_recipe_of_08_is_notebook_06s_recipe_taught_by_05s_published_model():
    """The goal's fallback: 06's net and training, and a teacher; without it, the run is notebook 06's own."""
    config = RunConfig.from_recipe("08_taught", device="cpu")
    assert sum(p.numel() for p in build_model(config).parameters()) == 4605
    assert RECIPES["08_taught"]["teacher"] == "results/05_garam_masala.pt" and config.teacher_model == "garam_masala"
    untaught = RunConfig.from_recipe("08_taught", device="cpu", teacher="")
    assert untaught.experiment() == RunConfig.from_recipe("06_smallest", device="cpu").experiment()


def test_a_teacher_file_needs_its_model_named_and_without_one_the_lessons_knobs_keep_their_defaults():
    with pytest.raises(ConfigError, match=r"^RunConfig\.teacher_model='' is not allowed: the registered model"):
        RunConfig(model="smallest", device="cpu", teacher="results/05_garam_masala.pt")
    untaught = RunConfig.from_recipe("08_taught", device="cpu", teacher="", distill_weight=0.9)
    assert (untaught.teacher_model, untaught.distill_temperature, untaught.distill_weight) == ("", 4.0, 0.5)
    assert untaught.experiment() == RunConfig.from_recipe("08_taught", device="cpu", teacher="").experiment()


def test_the_teacher_command_trains_on_the_validation_split_and_saves_what_a_search_loads(mnist_dir, tmp_path):
    record = train_teacher("05_garam_masala", data_dir=mnist_dir, results_dir=tmp_path, log=lambda line: None,
                           smoke=True, epochs=1, device="cpu")
    assert record["kind"] == "teacher" and record["config"]["split"] == "validation" and record["epochs"] == 1
    assert read_json(tmp_path / "05_garam_masala.validation.json") == as_json(record)
    assert sha256(tmp_path / "05_garam_masala.validation.pt") == record["model_sha256"]
    student = RunConfig(model="smallest", device="cpu", split="validation", smoke=True, teacher_model="garam_masala",
                        teacher=str(tmp_path / "05_garam_masala.validation.pt"))
    assert load_teacher(student).info["split"] == "validation"


def test_a_teacher_file_without_a_record_or_an_accuracy_is_described_as_not_recorded(tmp_path):
    """A checkpoint fit wrote (last.pt holds no test accuracy and names no notebook) can teach too."""
    config = RunConfig(model="garam_masala", epochs=1, device="cpu")
    path = tmp_path / "last.pt"
    torch.save({"model": build_model(config).state_dict(), "config": config.to_dict()}, path)
    teacher = load_teacher(RunConfig(model="smallest", device="cpu", teacher=str(path), teacher_model="garam_masala"))
    text = describe_teacher(teacher)
    assert "last epoch not recorded on its test images" in text and "its training record is not in results/" in text


def test_a_teacher_saved_under_a_models_old_name_is_that_model(tmp_path):
    """"seed" is an old name of 03's model (utils.models.ALIASES): a file saved under it teaches, under either name."""
    config = RunConfig(model="dropout", epochs=1, device="cpu")
    path = tmp_path / "03.pt"
    torch.save({"model": build_model(config).state_dict(), "config": {**config.to_dict(), "model": "seed"}}, path)
    for name in ("seed", "dropout"):
        student = RunConfig(model="smallest", device="cpu", teacher=str(path), teacher_model=name)
        assert student.teacher_model == "dropout"
        assert load_teacher(student).info["model"] == "dropout"


def test_test_time_augmentation_averages_the_probabilities_of_the_views():
    """The reference: each view's softmax, averaged; a mean of log-probabilities (a geometric mean) or of logits
    would give other numbers and, for unsure digits, other predictions."""
    torch.manual_seed(0)
    images = torch.randn(8, 1, 28, 28)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    with torch.no_grad():
        model[1].weight.mul_(20)  # confident, disagreeing views: the kinds of mean differ widely
        copies = [[1.0, 0.0, 0.0], [0.0, -2.0, 10.0]]
        views = [images] + [copies_of(images, copy) for copy in copies]
        expected = torch.stack([torch.softmax(model(view), 1) for view in views]).mean(0)
        averaged = averaged_log_probabilities(model, images, copies)
    assert torch.allclose(averaged.exp(), expected, atol=1e-6)
    assert torch.equal(averaged.argmax(1), expected.argmax(1))
