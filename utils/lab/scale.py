"""Many runs at once on Ray: started inside the command on this machine by default, on a cluster with --address.

Every multi-run command (`utils.lab.series run` with several notebooks or seeds, `utils.lab.ablation`) hands its runs to
a `Pool`: each run is a Ray task that reserves `cpus_per_run` CPUs (also its torch thread count, which the record
keeps: the thread count changes the last digits) and `gpus_per_run` GPUs (a fraction lets small runs share one).
Workers get this project's code from Ray (runtime_env working_dir) and return what a run produced; the caller's
`on_finished` writes it, in this process, as each run ends, and logs one line per run: the workers' own output
(a notebook's cells, its kernel's warnings) stays in the executed notebook and Ray's logs, not in the console. A
run whose worker process or node dies is started again (at most RETRIES times); a run that raises is reported with
its error and the others go on; Ctrl-C cancels the runs still out, and what the finished ones wrote stays. A
single run on no cluster runs here, without Ray.
"""
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from utils.project import ROOT
from utils.provenance import PROVENANCE_ENV

RETRIES = 2  # a run whose worker dies is started again at most this often; a run that raises is not retried
CPUS_PER_RUN = 1  # one thread per run: these narrow convolutions scale poorly across threads, so runs side by side
# finish more runs per hour than the same cores shared by one run; and 1-thread runs repeat on any machine's cores
GPU_SHARE = 0.33  # three small runs share a GPU: one run of these nets leaves most of it idle
SHIPPED_EXCLUDES = [".git", "data", "runs", "readme_images", "**/__pycache__", ".pytest_cache",
                    "**/.ipynb_checkpoints"]  # what workers do not need of the checkout; they get MNIST themselves
# the CPU kernels a run's numbers depend on, and the command and code its record names: workers use the driver's
FORWARDED_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", PROVENANCE_ENV)
NODE_DATA_DIR = Path.home() / ".cache" / "tiny-mnist" / "data"  # MNIST on a node that cannot see the driver's


class SchedulingError(Exception):
    """A request the scheduler refuses before any run starts (bad resources, no cluster at the address)."""


@dataclass
class Resources:
    """Where runs go and what each one reserves; None: the default (see `resolved`)."""

    address: str = None  # None: Ray started inside the command; 'auto' or HOST:PORT: an existing cluster
    cpus_per_run: int = None
    gpus_per_run: float = None

    def check(self):
        if self.cpus_per_run is not None and (isinstance(self.cpus_per_run, bool)
                                              or not isinstance(self.cpus_per_run, int) or self.cpus_per_run < 1):
            raise SchedulingError(f"--cpus-per-run {self.cpus_per_run!r}: give a whole number of CPUs, at least 1")
        if self.gpus_per_run is not None and not (isinstance(self.gpus_per_run, (int, float))
                                                  and not isinstance(self.gpus_per_run, bool)
                                                  and 0 <= self.gpus_per_run <= 1):
            raise SchedulingError(f"--gpus-per-run {self.gpus_per_run!r}: give a share of one GPU from 0 to 1 "
                                  "(0.5: two runs per GPU; 0: on the CPU)")
        return self

    def resolved(self, cluster_gpus):
        """(cpus, gpus) per run: the defaults are CPUS_PER_RUN, and GPU_SHARE where the cluster has a GPU."""
        gpus = self.gpus_per_run if self.gpus_per_run is not None else (GPU_SHARE if cluster_gpus else 0)
        return self.cpus_per_run or CPUS_PER_RUN, gpus


def add_arguments(parser):
    """--address, --cpus-per-run and --gpus-per-run, the same on every multi-run command."""
    group = parser.add_argument_group("many runs (Ray)")
    group.add_argument("--address", help="an existing Ray cluster: HOST:PORT of its head, or 'auto' (the one "
                                         "`ray start` made on this machine); default: Ray inside this command")
    group.add_argument("--cpus-per-run", type=int, help=f"CPUs each run reserves, also its torch threads "
                                                        f"(default {CPUS_PER_RUN})")
    group.add_argument("--gpus-per-run", type=float, help=f"share of a GPU each run reserves (default "
                                                          f"{GPU_SHARE} where the cluster has GPUs, else 0)")


def resources_from(args):
    return Resources(args.address, args.cpus_per_run, args.gpus_per_run).check()


@dataclass
class Finished:
    """One run's end: `result` is what the task returned; `error` says why there is none."""

    job: object
    result: object = None
    error: str = ""
    node: str = ""  # where it ran: host, and Ray node id on Ray


def set_threads(threads):
    """Make this process (and the notebook kernels it starts) compute with `threads` threads."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:  # torch read the variables when it was imported
        sys.modules["torch"].set_num_threads(threads)


def data_folder(driver_data_dir):
    """The MNIST folder a worker uses: the driver's when this node sees it (this machine, or a shared folder),
    else a folder of this node's own, where MNIST is fetched and verified (utils.mnist) on first use."""
    folder = Path(driver_data_dir)
    return folder if folder.is_dir() else NODE_DATA_DIR


def link_data_folder(driver_data_dir):
    """Give this worker's copy of the project a data/ folder (the copy leaves it out): a link to data_folder()."""
    link = ROOT / "data"
    if link.exists() or link.is_symlink() or link.resolve() == Path(driver_data_dir).resolve():
        return  # the driver's own checkout, or linked already
    target = data_folder(driver_data_dir)
    target.mkdir(parents=True, exist_ok=True)
    try:
        link.symlink_to(target, target_is_directory=True)
    except FileExistsError:  # another worker on this node linked it first
        pass


def _task(function, job, threads, gpus):
    """What a Ray worker runs: `function(job)` with the run's threads; returns (result, its node)."""
    import ray

    set_threads(threads)
    if not gpus:  # a run that reserved no GPU must not use one (Ray shows a GPU task only its own)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return function(job), f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"


def connect(address, log):
    """Start Ray here (address None) or join the cluster at `address`; returns whether this call started it."""
    try:
        import ray
    except ImportError:
        raise SchedulingError("several runs at once need Ray: pip install -r requirements.txt") from None
    if ray.is_initialized():
        return False
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    runtime_env = {"working_dir": str(ROOT), "excludes": SHIPPED_EXCLUDES, "env_vars": env}
    try:
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(runtime_env=runtime_env, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
    except ConnectionError as error:
        raise SchedulingError(f"--address {address}: no Ray cluster let this command in ({error}). Is one "
                              "running there (`ray start --head`)? If it uses token authentication (Ray's default "
                              "since 2.59), set RAY_AUTH_MODE=token here too and give this machine its token "
                              "(README, Running on a cluster)") from None
    resources = ray.cluster_resources()
    log(f"Ray {'cluster at ' + address if address else 'on this machine'}: {resources.get('CPU', 0):g} CPUs, "
        f"{resources.get('GPU', 0):g} GPUs, {len([n for n in ray.nodes() if n['Alive']])} node(s)")
    return True


def per_run(resources, noun="run"):
    """(cpus, gpus) each run reserves on the cluster Ray is connected to; SchedulingError when it has too few."""
    import ray

    cluster = ray.cluster_resources()
    cpus, gpus = resources.resolved(cluster.get("GPU", 0))
    if cpus > cluster.get("CPU", 0) or gpus > cluster.get("GPU", 0):
        raise SchedulingError(f"a {noun} asks for {cpus} CPUs and {gpus:g} GPUs; the cluster has "
                              f"{cluster.get('CPU', 0):g} CPUs and {cluster.get('GPU', 0):g} GPUs")
    return cpus, gpus


class Pool:
    """Where a command's runs go: this process when there is one run and no --address, else Ray.

    with Pool(resources, runs) as pool: pool.device says what the runs train on ('cpu' or 'cuda'), and
    pool.run_device what a run's config should name for it; pool.map(...) runs them. Leaving the block shuts down a
    Ray that the pool started."""

    def __init__(self, resources=None, runs=2, log=print):
        self.resources = (resources or Resources()).check()
        self.local = runs <= 1 and self.resources.address is None
        self.log, self.started = log, False
        self.cpus = self.gpus = None

    def __enter__(self):
        if self.local:
            self.cpus, self.gpus = self.resources.cpus_per_run, 0  # no --cpus-per-run: the run uses every core
            import torch
            self.device = "cuda" if torch.cuda.is_available() and self.resources.gpus_per_run != 0 else "cpu"
            return self
        self.started = connect(self.resources.address, self.log)
        try:
            self.cpus, self.gpus = per_run(self.resources)
        except SchedulingError:
            self.__exit__(None, None, None)
            raise
        self.device = "cuda" if self.gpus else "cpu"
        return self

    @property
    def run_device(self):
        """'auto' on Ray: a worker sees the GPUs it reserved and no other (this process may have none at all)."""
        return self.device if self.local else "auto"

    def __exit__(self, *exc):
        if self.started:
            import ray

            ray.shutdown()
            self.started = False

    def map(self, function, jobs, on_finished=None):
        """`function(job)` for every job; `on_finished(Finished)` is called here as each run ends.

        `function` must be importable on the workers (a module-level function of this project) and return data
        Ray can send back. Returns the Finished in the order the runs ended. On Ctrl-C the runs still out are
        cancelled and KeyboardInterrupt is raised again; whatever `on_finished` wrote stays."""
        on_finished = on_finished or (lambda finished: None)
        if self.local:
            return self._run_here(function, jobs, on_finished)
        import ray

        task = ray.remote(_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=RETRIES,
                                         retry_exceptions=False, scheduling_strategy="SPREAD")
        pending = {task.remote(function, job, self.cpus, self.gpus): job for job in jobs}
        if pending:
            self.log(f"{len(pending)} runs on Ray, {self.cpus} CPU(s)"
                     f"{f' and {self.gpus:g} GPU' if self.gpus else ''} each")
        finished = []
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                try:
                    result, node = ray.get(ref)
                    outcome = Finished(job, result, node=node)
                except ray.exceptions.RayTaskError as error:  # the run raised: its own error, not retried
                    outcome = Finished(job, error=f"{type(error.cause).__name__}: {error.cause}")
                except ray.exceptions.RayError as error:  # its worker or node died RETRIES + 1 times
                    first_line = (str(error).splitlines() or [""])[0]
                    outcome = Finished(job, error=f"its worker died {RETRIES + 1} times: "
                                                  f"{type(error).__name__}: {first_line}")
                on_finished(outcome)
                finished.append(outcome)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            self.log(f"interrupted: {len(pending)} runs cancelled; every finished run is kept")
            raise
        return finished

    def _run_here(self, function, jobs, on_finished):
        finished = []
        for job in jobs:
            if self.cpus:
                set_threads(self.cpus)
            try:
                outcome = Finished(job, function(job), node=socket.gethostname())
            except Exception as error:  # a run that fails for its own reasons
                outcome = Finished(job, error=f"{type(error).__name__}: {error}", node=socket.gethostname())
            on_finished(outcome)
            finished.append(outcome)
        return finished
