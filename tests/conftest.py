"""Shared pytest configuration: markers, a deterministic hypothesis profile, a persistent XLA compilation cache,
fast-compiling XLA flags, garbage-collector thresholds, the xdist groups and fixtures shared across modules."""

import fcntl
import gc
import os

# Compiled programs are cached on disk and shared by the xdist workers, the subprocess tests and later runs
# (keyed by the program, so a code change never reuses a stale one). Every program is kept, however quick to compile:
# most of the suite's are, and a subprocess (e.g. the resumed launch of the two-process job) then reads them instead
# of compiling them again. Set before JAX is imported anywhere.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# The suite compiles ~2,800 small programs and runs each a few times, so compiling is most of its time: LLVM at -O0
# and XLA:CPU's classic emitters compile them in about 40 % of the default time, and one codegen thread per program
# (not a split module compiled in parallel, which only adds work when both cores are busy) takes ~10 % less CPU again.
# Subprocess tests and notebook kernels inherit these flags (and add their device count). The XLA bug the code works
# around (the vmapped pullback miscompilation in rl.objective_gradients) reproduces under them, so its guard test
# still guards.
FAST_COMPILE_XLA_FLAGS = ("--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false "
                          "--xla_cpu_parallel_codegen_split_count=1")
os.environ["XLA_FLAGS"] = f"{FAST_COMPILE_XLA_FLAGS} {os.environ.get('XLA_FLAGS', '')}".strip()

# The tests keep many JAX objects alive, so with the default thresholds (700, 10, 10) the cyclic collector's full
# passes add up: 3.9-4.1 s of GC in a 60 s run of three loop modules, 1.6-1.8 s with these.
gc.set_threshold(50_000, 20, 20)

import hypothesis  # noqa: E402
import pytest  # noqa: E402

hypothesis.settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis.settings.register_profile("dev", deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: opt-in tests (run with -m slow)")


# The xdist groups that start first (in this order), ahead of the per-module ones: the longest chains of work.
FIRST_GROUPS = ("subprocess_jobs", "arith_loop")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` a module's tests run on one worker (its own group unless marked with another), so
    its compiled programs and fixtures are made once; the groups in FIRST_GROUPS are queued first (`make test`
    keeps the queue in collection order: --no-loadscope-reorder). Slow tests run only when asked for (`-m slow`)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    rank = {name: i for i, name in enumerate(FIRST_GROUPS)}
    items.sort(key=lambda item: rank.get(item.get_closest_marker("xdist_group").args[0], len(rank)))
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def torch():
    """torch, imported by the tests that compare with it, not at collection (1-2 s per process); they skip without
    it."""
    return pytest.importorskip("torch")


@pytest.fixture(scope="session")
def transformers(torch):
    """transformers (offline: no hub), imported like `torch`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def sft_cache(tmp_path_factory):
    """One warm-start cache for the loop tests of a worker (`sft.cache_dir`): runs of the test config with the same
    SFT settings train it once and restore it after (it holds one fingerprint: other settings retrain it)."""
    return str(tmp_path_factory.mktemp("sft_cache"))


@pytest.fixture
def one_subprocess_job_at_a_time(tmp_path_factory):
    """A lock the xdist workers share: the notebook kernel and the two-process job never run at the same time (a
    kernel beside the two-process job was seen to stall for 600 s after its last cell, 3 times in about 15 runs).
    Under `make test` (--dist loadgroup) their xdist group puts them on one worker, so the lock is never contended;
    it keeps other ways of running the suite safe."""
    with open(tmp_path_factory.getbasetemp().parent / "subprocess_job.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
