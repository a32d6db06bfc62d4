"""Merge the JSON results of several run_bench.py invocations into one results.md.

python bench/merge_results.py OUT.md A.json[:A.log] B.json[:B.log] ...   (used when the parts ran as parallel streams)
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run_bench


def main():
    out, files = Path(sys.argv[1]), sys.argv[2:]
    R = {"stages": {}, "whole": {}, "standard": {}, "profile": {}, "items": {}}
    starts, ends, loads = [], [], []
    logs_of = {}
    for i, f in enumerate(files):
        f, _, lg = f.partition(":")
        files[i] = f
        logs_of[f] = lg
        r = json.loads(Path(f).read_text())
        for k in ("stages", "whole", "profile", "items"):
            for n, v in r.get(k, {}).items():
                R[k].setdefault(n, v)
        for n, tools in r.get("standard", {}).items():
            for tool, v in tools.items():
                cur = R["standard"].setdefault(n, {})
                if tool not in cur or "failed" in cur[tool]:
                    cur[tool] = v  # the first file wins, unless its measurement failed
        starts.append(r["started"])
        ends.append(r.get("ended", "?"))
        loads.append(r["load_start"])
    R["started"], R["ended"], R["load_start"] = min(starts), max(ends), " / ".join(loads)
    R["stages"] = dict(sorted(R["stages"].items(), key=lambda kv: int(kv[0])))
    R["whole"] = dict(sorted(R["whole"].items(), key=lambda kv: int(kv[0])))
    R["items"] = dict(sorted(R["items"].items(), key=lambda kv: int(kv[0])))
    for f in files:
        lf = Path(logs_of[f]) if logs_of[f] else Path(f).with_suffix(".log")
        if lf.exists():
            run_bench.LOG.extend(line for line in lf.read_text().splitlines() if line.startswith(("[", "  ")))
    run_bench.write_results(R, out)


if __name__ == "__main__":
    main()
