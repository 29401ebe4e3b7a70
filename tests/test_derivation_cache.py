"""The memoised derivations kept on disk between processes (``lrnn_theory.cache``, ``derivations.derivation``).

A kept result must be the result: loaded equal to what was derived, keyed by everything it depends on (the call's
arguments with their types and assumptions, the derivation modules' sources, sympy's and Python's versions), renewed
when any of these changes, and never an error: a damaged, foreign, oversized or unwritable entry is a miss.
"""
import hashlib
import os
import pickle
import subprocess
import sys

import pytest
import sympy as sp

from lrnn_theory import cache
from lrnn_theory import derivations
from lrnn_theory.derivations import call_key, derivation
from lrnn_theory.derivations import frozen


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def counted():
    """A derivation that counts its own runs (its result holds assumptions, a matrix and a dataclass-free dict)."""
    runs = []

    @derivation
    def toy(x, order=2):
        runs.append(x)
        y = sp.Symbol("y", positive=True)
        return {"series": sp.series(sp.exp(x * y), y, 0, order).removeO(), "matrix": sp.Matrix([[x, y], [y, x]])}

    return toy, runs


def test_a_result_derived_once_is_loaded_equal_after_the_memo_is_gone(cache_dir):
    toy, runs = counted()
    x = sp.Symbol("x", real=True)
    first = toy(x, order=3)
    toy.cache_clear()  # as a new process: only the disk is left
    again = toy(x, order=3)
    assert runs == [x] and again == first and again["matrix"] is not first["matrix"]
    assert len(list(cache_dir.glob("derivations-*/*.pickle"))) == 1
    toy(sp.Symbol("x", positive=True), order=3)  # other assumptions: another derivation
    toy(x, order=3.0)  # another type: another derivation
    assert len(runs) == 3 and len(list(cache_dir.glob("derivations-*/*.pickle"))) == 3


def test_a_function_outside_the_derivation_modules_is_kept_under_its_own_source_too():
    """The store's version covers the derivation modules' sources; a derivation defined elsewhere (here, in this
    test module) is renewed by a digest of its own module's source in its key."""
    toy, _ = counted()
    assert derivations._origin(frozen.derive_io_rate.__wrapped__) == "lrnn_theory.derivations.frozen.derive_io_rate"
    digest = hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:16]
    assert derivations._origin(toy.__wrapped__) == f"{__name__}.counted.<locals>.toy@{digest}"


def test_call_keys_are_the_same_in_every_process_and_tell_types_and_assumptions_apart():
    x = sp.Symbol("x", positive=True)
    key = call_key("m.f", (x, 1, (2, "a")), {"order": frozenset({1, 2})})
    code = ("import sympy as sp; from lrnn_theory.derivations import call_key; "
            "print(call_key('m.f', (sp.Symbol('x', positive=True), 1, (2, 'a')), {'order': frozenset({2, 1})}))")
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                   env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    assert other_process == key
    assert len({key, call_key("m.f", (sp.Symbol("x"), 1, (2, "a")), {"order": frozenset({1, 2})}),
                call_key("m.f", (x, 1.0, (2, "a")), {"order": frozenset({1, 2})}),
                call_key("m.g", (x, 1, (2, "a")), {"order": frozenset({1, 2})})}) == 4


def test_a_real_derivation_kept_on_disk_equals_a_fresh_derivation(cache_dir):
    fresh = frozen.derive_io_rate.__wrapped__()  # the derivation itself, neither memo nor disk
    frozen.derive_io_rate.cache_clear()
    try:
        frozen.derive_io_rate()
        frozen.derive_io_rate.cache_clear()
        loaded = frozen.derive_io_rate()
    finally:
        frozen.derive_io_rate.cache_clear()
    assert list(cache_dir.glob("derivations-*/*.pickle")) and loaded == fresh
    assert all(sp.srepr(loaded[name]) == sp.srepr(fresh[name]) for name in fresh)


def test_damaged_foreign_and_oversized_entries_are_misses_and_are_replaced(cache_dir, monkeypatch):
    toy, runs = counted()
    x = sp.Symbol("x")
    expected = toy(x)
    (entry,) = cache_dir.glob("derivations-*/*.pickle")
    for content in (b"\x80\x05 cut short", pickle.dumps(("another key", "another result")), b"not a pickle"):
        entry.write_bytes(content)
        toy.cache_clear()
        assert toy(x) == expected
    assert len(runs) == 4 and pickle.loads(entry.read_bytes())[1] == expected
    monkeypatch.setattr(cache, "MAX_ENTRY_BYTES", 10)  # a reader reads at most this much
    toy.cache_clear()
    assert toy(x) == expected and len(runs) == 5


def test_sources_versions_renew_the_results_and_remove_the_old_ones(cache_dir):
    old, new = cache.ResultStore("derivations", "old"), cache.ResultStore("derivations", "new")
    assert old.store("k", sp.Integer(1)) and old.load("k") == 1
    assert new.load("k") is cache.MISSING
    assert new.store("k", sp.Integer(2)) and new.load("k") == 2
    assert [p.name for p in cache_dir.iterdir()] == ["derivations-new"]
    assert derivations._STORE.version != "new" and len(derivations._STORE.version) == 16


def test_what_cannot_be_kept_is_returned_all_the_same(cache_dir, tmp_path, monkeypatch):
    runs = []

    @derivation
    def with_a_function():
        runs.append(1)
        return {"f": lambda v: v + 1}  # not picklable

    assert with_a_function()["f"](1) == 2 and not cache_dir.exists()
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(blocked))  # cannot be a directory
    toy, runs = counted()
    assert toy(sp.Symbol("x")) and blocked.read_text() == ""
    for off in ("off", "0", "none"):
        monkeypatch.setenv("LRNN_THEORY_CACHE", off)
        toy.cache_clear()
        toy(sp.Symbol("x"))
    assert len(runs) == 4 and not (tmp_path / "off").exists() and not (tmp_path / "cache").exists()
