"""Every number of two sets of figure JSON files, compared: the largest absolute difference per figure.

Usage: ``python benchmarks/compare_figures.py BEFORE_DIR AFTER_DIR`` (each from ``lrnn reproduce all --quick --out``);
used to show that a refactoring leaves every figure's numbers unchanged (issue 20: to 1e-10).
"""
import json, sys, math
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])
def walk(x, y, path, out):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in set(x) | set(y):
            if k not in x or k not in y:
                out["keys"].append(path + "/" + k); continue
            walk(x[k], y[k], path + "/" + k, out)
    elif isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y): out["keys"].append(path + f" len {len(x)}!={len(y)}"); return
        for i, (p, q) in enumerate(zip(x, y)): walk(p, q, f"{path}[{i}]", out)
    elif isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        if math.isnan(x) and math.isnan(y): return
        d = abs(x - y)
        if d > out["max"][0]: out["max"] = (d, path)
    elif x != y:
        out["text"].append(path)
worst = 0.0
for f in sorted(a.glob("fig*.json")):
    out = {"max": (0.0, ""), "keys": [], "text": []}
    walk(json.loads(f.read_text()), json.loads((b / f.name).read_text()), "", out)
    worst = max(worst, out["max"][0])
    print(f"{f.stem:7s} max |diff| {out['max'][0]:.3g} at {out['max'][1][:70]}  keys differ: {len(out['keys'])} {out['keys'][:3]}  text differ: {len(out['text'])} {out['text'][:3]}")
print(f"largest difference over all figures: {worst:.3g}")
