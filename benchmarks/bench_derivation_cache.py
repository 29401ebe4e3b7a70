"""Derivations kept on disk (``lrnn_theory.cache``): a new process with and without the kept results.

For each printed result, ``lrnn derive --result NAME`` runs in fresh interpreters, alternately with
``LRNN_THEORY_CACHE=off`` (every derivation made afresh) and with a cache directory filled by a first run, and the
children's CPU seconds (user + system) are compared side by side; the printed reports must be identical.

Run: ``python benchmarks/bench_derivation_cache.py [--repeats N] [--results frozen,flow]``.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile

RESULTS = ("flow", "frozen", "finite-lr", "phase-transition", "complex", "every-step", "stability")


def child_cpu(argv, env) -> tuple:
    """CPU seconds of one child process running ``argv``, and its standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant (the best is reported)")
    parser.add_argument("--results", default=",".join(RESULTS), help="comma-separated result names")
    args = parser.parse_args()
    lrnn = [sys.executable, "-m", "lrnn_theory.cli", "derive", "--result"]
    print(f"lrnn derive --result NAME in a new process, CPU s (best of {args.repeats}; reports identical?)")
    print(f"  {'result':<18} {'afresh':>8} {'kept':>8} {'ratio':>7}  same")
    with tempfile.TemporaryDirectory() as kept_dir:
        afresh_env = dict(os.environ, LRNN_THEORY_CACHE="off", COLUMNS="120")
        kept_env = dict(os.environ, LRNN_THEORY_CACHE=kept_dir, COLUMNS="120")
        total = [0.0, 0.0]
        for name in args.results.split(","):
            _, reference = child_cpu(lrnn + [name], kept_env)  # fills the cache
            afresh, kept, same = [], [], True
            for _ in range(args.repeats):  # alternated, so that the host's load falls on both alike
                seconds, out = child_cpu(lrnn + [name], afresh_env)
                afresh.append(seconds)
                same &= out == reference
                seconds, out = child_cpu(lrnn + [name], kept_env)
                kept.append(seconds)
                same &= out == reference
            total[0] += min(afresh)
            total[1] += min(kept)
            print(f"  {name:<18} {min(afresh):>8.2f} {min(kept):>8.2f} {min(afresh) / min(kept):>6.1f}x  {same}")
        print(f"  {'all':<18} {total[0]:>8.2f} {total[1]:>8.2f} {total[0] / total[1]:>6.1f}x")


if __name__ == "__main__":
    main()
