import gc
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# Lets test modules import the shared reference computations in tests/reference.py.
sys.path.insert(0, str(Path(__file__).parent))

# Cache compiled code in __pycache__ even where PYTHONDONTWRITEBYTECODE=1 is set, as Python does by default: without
# it pytest rewrites the asserts of every test module and plugin on each run (3.1 s CPU of a 6.8 s collection here),
# and every `lrnn` child process of the tests compiles the package again (0.1-0.2 s each). The pycs go beside their
# sources (git-ignored in this repository; pytest's rewritten plugins beside the plugins in site-packages) and are
# checked against their source's time and size, so an edited file is compiled afresh.
sys.dont_write_bytecode = False


@pytest.fixture(autouse=True, scope="session")
def single_threaded_blas():
    """Every array of the suite is small: on a shared 2-core machine a multi-threaded OpenBLAS only adds thread
    hand-offs (one bounded L-BFGS-B minimisation: 39.9 ms CPU with two threads, 1.0 ms with one). Tests that check
    the library's own thread settings set them inside this limit (threadpoolctl restores the outer one)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """Importing the test modules (sympy, scipy, matplotlib) builds most of the heap, and the collector's automatic
    passes would visit it again and again (0.4 s of CPU); imports make next to no garbage, so the collector pauses
    until the tests start. Then the heap is frozen as it is (as at each module start, below) before the collector
    runs again, whose first pass would visit all of it: the little garbage the imports left (15,000 objects; a
    pass to find it costs 0.18 s) is frozen with it and collected at the end of the session (pytest_unconfigure)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return (yield)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def pytest_unconfigure(config):
    """pytest's unraisable-exception check ends the session with five full garbage collections of a large heap
    (sympy's caches, matplotlib); here what the module starts froze is unfrozen and collected (its garbage and
    finalizers too), then the young generations are collected until one pass finds nothing (the garbage that
    finalizers made is young: a second full pass over the heap, 0.4 s, found nothing more), and the objects that
    survive are frozen, so that pytest's five passes (after this hook) only visit what was allocated since: each
    unraisable exception is still reported, by the same hook."""
    gc.unfreeze()
    gc.collect()
    for _ in range(10):  # a bound for finalizers that keep making garbage
        if not gc.collect(1):
            break
    gc.freeze()


#: The test module at whose start the heap was last frozen.
_FROZEN_AT = {"module": None}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """At the start of each test module (the previous one's fixtures are gone): collect, then freeze what survives
    (modules imported so far, caches) out of the collector's way. The automatic full collections inside a module
    then visit only what was allocated since, not every imported module's objects again (0.85 s of CPU in
    collections fell to 0.33 s on three test files here). What was garbage is collected before each freeze."""
    module = getattr(item, "module", None)  # doctest items have none
    if module is not _FROZEN_AT["module"]:
        _FROZEN_AT["module"] = module
        gc.collect()
        gc.freeze()
