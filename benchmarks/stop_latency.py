"""How fast does `bayesmoe fit` stop on Ctrl-C / SIGTERM under load, and what does it leave?

Starts ``--hogs`` CPU-bound processes, then runs `bayesmoe fit` (zhao2025 on 446 simulated runs)
``--stops`` times, sending SIGINT and SIGTERM alternately after ``--after`` seconds (compiling at
15 s, sampling at 45 s on the 2-core project machine), and records the time to exit, the exit
code and any file left in the output folder. The README promises exit 130 within 5 s.

Run: python benchmarks/stop_latency.py [--hogs 2] [--stops 6] [--after 15 45]
Writes benchmarks/results/stop_latency.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bayesmoe as bm
from bayesmoe.files import atomic_path
from bayesmoe.laws.simulation import zhao_design

OUT = Path(__file__).parent / "results" / "stop_latency.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hogs", type=int, default=2, help="CPU-bound processes running beside the fit")
    ap.add_argument("--stops", type=int, default=6, help="stops per delay")
    ap.add_argument("--after", type=float, nargs="+", default=[15.0, 45.0], help="seconds before each signal")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bayesmoe-stop-"))
    data = work / "zhao.csv"
    bm.simulate("zhao2025", zhao_design(446), noise=0.01, seed=1).df.to_csv(data, index=False)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    rows = []
    try:
        for after in args.after:
            for i in range(args.stops):
                out = work / f"out{len(rows)}"
                out.mkdir()
                cmd = ["bayesmoe", "fit", "--law", "zhao2025", "--data", str(data), "--out", str(out / "fit.nc")]
                p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                time.sleep(after)
                sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
                t = time.perf_counter()
                p.send_signal(sig)
                err = p.communicate()[1]
                dt = time.perf_counter() - t
                left = sorted(f.name for f in out.iterdir())
                rows.append({"after_s": after, "signal": sig.name, "exit": p.returncode, "stop_s": dt, "left": left})
                print(f"{sig.name} after {after:g} s: exit {p.returncode} in {dt:.2f} s, left {left}", flush=True)
                if "Traceback" in err:
                    print(err[-2000:])
    finally:
        for h in hogs:
            h.kill()
    result = {
        "machine": platform.platform(),
        "hogs": args.hogs,
        "stops": rows,
        "max_stop_s": max(r["stop_s"] for r in rows),
        "all_exit_130": all(r["exit"] == 130 for r in rows),
        "nothing_left": all(not r["left"] for r in rows),
    }
    with atomic_path(OUT) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print({k: result[k] for k in ("max_stop_s", "all_exit_130", "nothing_left")})


if __name__ == "__main__":
    main()
