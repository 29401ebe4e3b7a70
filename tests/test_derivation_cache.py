"""The memoised derivations kept on disk between processes (``lrnn_theory.cache``, ``derivations.derivation``).

A kept result must be the result: loaded equal to what was derived, keyed by everything it depends on (the call's
arguments with their types and assumptions, the derivation modules' sources, sympy's and Python's versions, the
source of a function kept from elsewhere), renewed when any of these changes, never an error (a damaged, foreign,
oversized or unwritable entry is a miss), and never loaded from where someone else could have written it.
"""
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from lrnn_theory import cache
from lrnn_theory import derivations
from lrnn_theory.derivations import call_key, derivation
from lrnn_theory.derivations import frozen

#: The arguments each run of ``toy`` was called with (its derivations, not its loads).
RUNS = []


@derivation(keep_on_disk=True)
def toy(x, order=2):
    """A derivation defined outside the derivation modules (kept by request) whose result holds assumptions and a
    matrix."""
    RUNS.append(x)
    y = sp.Symbol("y", positive=True)
    return {"series": sp.series(sp.exp(x * y), y, 0, order).removeO(), "matrix": sp.Matrix([[x, y], [y, x]])}


@derivation(keep_on_disk=True)
def with_a_function():
    RUNS.append("function")
    return {"f": lambda v: v + 1}  # cannot be pickled


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(tmp_path / "cache"))
    RUNS.clear()
    toy.cache_clear()
    with_a_function.cache_clear()
    return tmp_path / "cache"


def entries(folder):
    return list(folder.glob("derivations-*/*.pickle"))


def test_a_result_derived_once_is_loaded_equal_after_the_memo_is_gone(cache_dir):
    x = sp.Symbol("x", real=True)
    first = toy(x, order=3)
    toy.cache_clear()  # as a new process: only the disk is left
    again = toy(x, order=3)
    assert RUNS == [x] and again == first and again["matrix"] is not first["matrix"]
    assert len(entries(cache_dir)) == 1
    toy(sp.Symbol("x", positive=True), order=3)  # other assumptions: another derivation
    toy(x, order=3.0)  # another type: another derivation
    assert len(RUNS) == 3 and len(entries(cache_dir)) == 3


def test_a_function_kept_from_elsewhere_is_keyed_by_its_own_source_and_a_local_one_is_never_kept(cache_dir):
    """The store's version covers the derivation modules' sources; a function kept from elsewhere is renewed by a
    digest of its own module's source in its key. A lambda, a function defined inside another (two of them share a
    name, their closures differ) and code without a source file are never kept."""
    assert derivations._origin(frozen.derive_io_rate.__wrapped__, None) == \
        "lrnn_theory.derivations.frozen.derive_io_rate"
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    assert derivations._origin(toy.__wrapped__, True) == f"{__name__}.toy@{digest}"
    assert derivations._origin(toy.__wrapped__, None) is None  # from elsewhere: only when asked

    def power_of(n):
        @derivation(keep_on_disk=True)
        def power(x):
            return x ** n
        return power

    square, cube = power_of(2), power_of(3)
    assert square(sp.Symbol("x")) == sp.Symbol("x") ** 2 and cube(sp.Symbol("x")) == sp.Symbol("x") ** 3
    lam = derivation(lambda x: x + 1, keep_on_disk=True)
    assert lam(sp.Integer(1)) == 2
    namespace = {"derivation": derivation}
    exec("@derivation(keep_on_disk=True)\ndef sourceless(x):\n    return x * 2\n", namespace)
    assert namespace["sourceless"](sp.Integer(2)) == 4
    assert entries(cache_dir) == []


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
    assert entries(cache_dir) and loaded == fresh
    assert all(sp.srepr(loaded[name]) == sp.srepr(fresh[name]) for name in fresh)


def test_an_edit_of_any_derivation_module_renews_the_store(tmp_path):
    copy = tmp_path / "derivations"
    shutil.copytree(Path(derivations.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert derivations._sources_digest(copy) == derivations._STORE.version
    edited = copy / "stability.py"
    edited.write_text(edited.read_text() + "\n")
    assert derivations._sources_digest(copy) != derivations._STORE.version


def test_damaged_foreign_and_oversized_entries_are_misses_and_are_replaced(cache_dir, monkeypatch):
    x = sp.Symbol("x")
    expected = toy(x)
    (entry,) = entries(cache_dir)
    for content in (b"\x80\x05 cut short", pickle.dumps(("another key", "another result")), b"not a pickle"):
        entry.write_bytes(content)
        toy.cache_clear()
        assert toy(x) == expected
    assert len(RUNS) == 4 and pickle.loads(entry.read_bytes())[1] == expected
    monkeypatch.setattr(cache, "MAX_ENTRY_BYTES", 10)  # a reader reads at most this much
    toy.cache_clear()
    assert toy(x) == expected and len(RUNS) == 5


def test_nothing_is_loaded_from_or_kept_in_a_directory_others_can_write(cache_dir):
    """Entries are unpickled (the flows' code run): a cache directory, or its folder of results, that others can
    write to is not used at all, as if the cache were off."""
    x = sp.Symbol("x")
    toy(x)
    (entry,) = entries(cache_dir)
    entry.write_bytes(pickle.dumps((pickle.loads(entry.read_bytes())[0], "planted")))
    for folder in (cache_dir, entry.parent):
        folder.chmod(0o777)
        toy.cache_clear()
        assert toy(x) != "planted" and cache.trusted(folder) is False
        folder.chmod(0o755)
    toy.cache_clear()
    assert toy(x) == "planted"  # (the same entry, once the directory is the user's alone)
    entry.parent.chmod(0o777)
    toy(sp.Symbol("z"))
    assert len(entries(cache_dir)) == 1  # nothing written there either


def test_other_versions_are_removed_and_nothing_else(cache_dir):
    old, new = cache.ResultStore("derivations", "0" * 16), cache.ResultStore("derivations", "1" * 16)
    assert old.store("k", sp.Integer(1)) and old.load("k") == 1
    assert new.load("k") is cache.MISSING
    foreign = [cache_dir / "derivations-notes" / "results.pickle", cache_dir / f"derivations-{'2' * 16}" / "mine.txt"]
    for path in foreign:
        path.parent.mkdir()
        path.write_text("a user's file")
    assert new.store("k", sp.Integer(2)) and new.load("k") == 2
    assert sorted(p.name for p in cache_dir.iterdir()) == ["derivations-" + "1" * 16, "derivations-" + "2" * 16,
                                                           "derivations-notes"]
    assert all(path.read_text() == "a user's file" for path in foreign)
    assert len(derivations._STORE.version) == 16
    with pytest.raises(ValueError, match="version"):
        cache.ResultStore("derivations", "../elsewhere")


def test_what_cannot_be_kept_is_returned_all_the_same(cache_dir, tmp_path, monkeypatch):
    assert with_a_function()["f"](1) == 2 and not cache_dir.exists()
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(blocked))  # cannot be a directory
    assert toy(sp.Symbol("x")) and blocked.read_text() == ""
    for off in ("off", "0", "none"):
        monkeypatch.setenv("LRNN_THEORY_CACHE", off)
        toy.cache_clear()
        toy(sp.Symbol("x"))
    assert RUNS == ["function"] + [sp.Symbol("x")] * 4
    assert not (tmp_path / "off").exists() and not cache_dir.exists()
