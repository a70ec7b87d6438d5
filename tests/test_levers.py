"""Speed levers (utils.levers): asked for in the config, used where the machine has them, else a one-line note."""
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from utils import levers
from utils.config import RunConfig
from utils.engine import build_model, fit
from utils.experiment import same_experiment
from utils.project import ROOT


def short_config(**changes):
    return RunConfig(**{"model": "garam_masala", "epochs": 1, "batch_size": 128, "lr": 0.05, "device": "cpu",
                        **changes})


def test_a_run_without_levers_records_float32_uncompiled(small_mnist):
    config = short_config()
    history = fit(build_model(config), small_mnist, config, progress="none")
    assert history.levers == {"precision": "float32", "compiled": False, "notes": []}


def test_bfloat16_where_the_machine_lacks_it_trains_in_float32_with_a_one_line_note(small_mnist, monkeypatch, capsys):
    monkeypatch.setattr(levers, "bfloat16_missing", lambda device: "this CPU (AVX2 kernels) has no AVX-512 BF16")
    config = short_config(precision="bfloat16")
    history = fit(build_model(config), small_mnist, config, progress="none")
    plain = fit(build_model(short_config()), small_mnist, short_config(), progress="none")
    assert history.levers["precision"] == "float32" and len(history.levers["notes"]) == 1
    assert history.test_acc == plain.test_acc  # float32 throughout: the plain run's numbers
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert printed == ["note: this CPU (AVX2 kernels) has no AVX-512 BF16: training in float32 instead of bfloat16"]


def test_a_resumed_run_that_falls_back_again_keeps_the_note_once(monkeypatch, capsys):
    monkeypatch.setattr(levers, "bfloat16_missing", lambda device: "no AVX-512 BF16 here")
    config = short_config(precision="bfloat16")
    first_part = levers.resolve_levers(config)
    second_part = levers.resolve_levers(config, notes=first_part.notes)  # resumed: the earlier part's notes seed it
    assert second_part.notes == first_part.notes == ["no AVX-512 BF16 here: training in float32 instead of bfloat16"]
    assert len(capsys.readouterr().out.splitlines()) == 2  # each part says it once


def test_bfloat16_where_the_machine_has_it_trains_the_forward_in_bfloat16(small_mnist, monkeypatch):
    monkeypatch.setattr(levers, "bfloat16_missing", lambda device: None)  # forced: autocast runs on any CPU
    seen = []
    config = short_config(precision="bfloat16")
    model = build_model(config)
    model.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    history = fit(model, small_mnist, config, progress="none")
    assert history.levers == {"precision": "bfloat16", "compiled": False, "notes": []}
    assert torch.bfloat16 in seen  # training batches (the test runs in float32)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert history.test_acc[-1] > 20  # it learns: chance is 10 %


def test_compiling_where_the_machine_cannot_trains_uncompiled_with_a_note(small_mnist, monkeypatch):
    monkeypatch.setattr(levers, "compile_missing", lambda device: "torch.compile needs a C++ compiler")
    config = short_config(compile_model=True)
    history = fit(build_model(config), small_mnist, config, progress="none")
    assert history.levers["compiled"] is False
    assert history.levers["notes"] == ["torch.compile needs a C++ compiler: training the model uncompiled"]


def test_a_compile_that_fails_on_the_first_batch_falls_back_with_the_error_named(small_mnist, monkeypatch, capsys):
    def broken(model, **options):
        def call(images):
            raise RuntimeError("no working C++ toolchain\nlong details")
        return call
    monkeypatch.setattr(levers, "compile_missing", lambda device: None)
    monkeypatch.setattr(torch, "compile", broken)
    config = short_config(compile_model=True)
    history = fit(build_model(config), small_mnist, config, progress="none")
    assert history.levers["compiled"] is False
    assert history.levers["notes"] == ["compiling failed (RuntimeError: no working C++ toolchain): training the "
                                       "model uncompiled from there"]
    assert "note: compiling failed" in capsys.readouterr().out
    assert history.test_acc[-1] > 20  # it learns: chance is 10 %


def test_compiled_logits_that_are_not_finite_put_the_buffers_back_and_train_uncompiled(small_mnist, monkeypatch,
                                                                                      capsys):
    """A compiled forward that gives NaN (as torch 2.14's CPU kernels can, writing past a buffer's end) on its third
    batch, after poisoning BatchNorm's statistics: the batch is computed again by the model's own forward from the
    statistics as they were, and so is the rest of the run, with a note."""
    def nan_on_third_batch(model, **options):
        calls = []

        def call(images):
            calls.append(1)
            if len(calls) < 3:
                return model(images)
            for buffer in model.buffers():
                if buffer.is_floating_point():
                    buffer.fill_(float("nan"))
            return torch.full((images.shape[0], 10), float("nan"))
        return call
    monkeypatch.setattr(levers, "compile_missing", lambda device: None)
    monkeypatch.setattr(torch, "compile", nan_on_third_batch)
    config = short_config(compile_model=True, batch_size=64)
    model = build_model(config)
    history = fit(model, small_mnist, config, progress="none")
    plain = fit(build_model(short_config(batch_size=64)), small_mnist, short_config(batch_size=64), progress="none")
    note = f"torch.compile's kernels gave non-finite logits on compiled batch 3: {levers.RAN_UNCOMPILED}"
    assert history.levers == {"precision": "float32", "compiled": False, "notes": [note]}
    assert f"note: {note}" in capsys.readouterr().out
    assert all(torch.isfinite(buffer).all() for buffer in model.buffers() if buffer.is_floating_point())
    assert history.train_loss == plain.train_loss and history.test_acc == plain.test_acc  # same batches, same numbers


COMPILED_AGAINST_PLAIN = """
import json, torch
from utils.config import RunConfig
from utils.data import load_mnist
from utils.engine import build_model, fit
data = load_mnist({data!r}, "cpu", train_samples=2000, test_samples=1000)
runs = {{}}
for compiled in (False, True):  # 2,000 images at batch 192: ten full batches and a short one of 80
    config = RunConfig(model="garam_masala", epochs=2, batch_size=192, lr=0.2, ema_decay=0.9,
                       recalibrate_average=True, device="cpu", compile_model=compiled, precision={precision!r})
    history = fit(build_model(config), data, config, progress="none")
    runs[compiled] = {{"loss": history.train_loss, "acc": history.test_acc, "levers": history.levers}}
runs["kernels"] = torch.backends.cpu.get_cpu_capability()
print(json.dumps(runs))
"""


@pytest.mark.parametrize("capability, options", [("AVX2", {"cpp.simdlen": 256}), ("AVX512", {"cpp.simdlen": 512}),
                                                 ("DEFAULT", {})])
def test_a_cpu_compile_names_the_vector_width_of_its_kernels(capability, options, monkeypatch):
    """The width goes to torch.compile as an inductor option, which torch's compile cache keys a graph on."""
    asked = []
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: asked.append(kwargs) or model)
    levers.CompiledForward(torch.nn.Linear(2, 2), levers.Levers(compiled=True), batch_size=4)
    assert asked == [{"dynamic": False, "options": options}]
    if options:
        from torch._inductor import config as inductor_config
        assert inductor_config.cpp.simdlen is None  # a real inductor setting, left unset globally


def test_a_resumed_run_whose_compiled_part_fell_back_goes_on_uncompiled(monkeypatch):
    monkeypatch.setattr(levers, "compile_missing", lambda device: None)
    note = f"torch.compile's kernels gave non-finite logits on compiled batch 3: {levers.RAN_UNCOMPILED}"
    resumed = levers.resolve_levers(short_config(compile_model=True), notes=[note])
    assert resumed.compiled is False and resumed.notes == [note]
    assert levers.resolve_levers(short_config(compile_model=True)).compiled is True


@pytest.mark.slow
def test_compiled_runs_under_both_kernel_sets_share_a_cache_and_train_as_the_plain_run_does(mnist_dir, tmp_path):
    """A compiled run under the AVX2 kernels the published runs use, then a compiled bfloat16 run under this
    machine's own kernels (AVX-512 with BF16 where it has them, else float32 with a note), each a process of its own
    (torch reads ATEN_CPU_CAPABILITY at start) and both with one torch.compile cache, as on a machine that has run
    both: the compiled model's losses follow the plain model's, with a short last batch in every epoch. Without the
    vector width among the compile's options, the second run would reuse the first one's graph, generated for the
    other width, and write past its buffers."""
    if not any(shutil.which(name) for name in levers.C_COMPILERS):
        pytest.skip("no C++ compiler")
    cache = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    avx2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    own = {name: value for name, value in os.environ.items() if name not in avx2}
    for kernels, precision in (({**os.environ, **avx2}, "float32"), (own, "bfloat16")):
        script = COMPILED_AGAINST_PLAIN.format(data=str(mnist_dir), precision=precision)
        done = subprocess.run([sys.executable, "-c", script], env={**kernels, **cache, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs = json.loads(done.stdout.strip().splitlines()[-1])
        plain, compiled = runs["false"], runs["true"]
        seen = f"plain {plain}, compiled {compiled}, {runs['kernels']} kernels"
        assert compiled["levers"] == {**plain["levers"], "compiled": True}, seen  # bfloat16 as the machine allows
        assert compiled["loss"] == pytest.approx(plain["loss"], rel=0.05), seen  # other kernels: close, not equal
        assert abs(compiled["acc"][-1] - plain["acc"][-1]) < 5, seen


def test_records_made_before_the_levers_are_float32_uncompiled_runs():
    old = {key: value for key, value in short_config().to_dict().items()
           if key not in ("precision", "compile_model")}
    assert same_experiment(short_config().to_dict(), old)
    assert not same_experiment(short_config(precision="bfloat16").to_dict(), old)


def test_an_ablation_row_whose_runs_fell_back_carries_the_note_under_the_table():
    from utils.lab.tables import ablation_table
    run = {"seed": 0, "params": 7536, "test_acc": [99.5, 99.5, 99.5], "best_test_acc": 99.5, "fit_seconds": 1.0,
           "target_reached": True,
           "device": "cpu", "cpu": "AMD EPYC", "cpu_capability": "AVX2", "threads": 1, "gpu": None,
           "code": {"commit": "abc1234def", "dirty": False},
           "levers": {"precision": "float32", "compiled": False, "notes": []}}
    fell_back = {**run, "variant": "bfloat16",
                 "levers": {"precision": "float32", "compiled": False, "notes": ["no BF16: training in float32"]}}
    table = ablation_table([{**run, "variant": "base"}, fell_back], {"base": "base", "bfloat16": "bfloat16 autocast"})
    assert table.splitlines()[-1] == "- *bfloat16 autocast*: no BF16: training in float32"
    assert "- *" not in ablation_table([{**run, "variant": "base"}], {"base": "base"})
