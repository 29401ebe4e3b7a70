import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# Lets test modules import the shared reference computations in tests/reference.py.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="session")
def single_threaded_blas():
    """Every array of the suite is small: on a shared 2-core machine a multi-threaded OpenBLAS only adds thread
    hand-offs (one bounded L-BFGS-B minimisation: 39.9 ms CPU with two threads, 1.0 ms with one). Tests that check
    the library's own thread settings set them inside this limit (threadpoolctl restores the outer one)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
