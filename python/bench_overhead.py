"""The Python client's overhead per query beside the command's.

Starts a veil-dealer and a veil-server (the MLP, models/mnist-mlp.onnx) from the
workspace's release binaries on loopback, then runs N queries of the shipped samples:

- through one ``veil.Client`` (one session: setup once, then N queries on it), and
- as N ``veil-client infer --json`` processes (each its own session: setup every time),

and prints, per query, the wall time seen by the caller beside the online ms (and the
setup + offline ms) that both report. The difference between wall time and the phases'
ms is what the caller pays beyond the protocol: process start, key loading, connection,
JSON, Python glue.

    python python/bench_overhead.py [--n 20]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import veil

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
from conftest import BIN, REPO, Process, sample, start_server  # noqa: E402


def phases(answer):
    return (answer["setup"]["ms"] + answer["offline"]["ms"], answer["online"]["ms"])


def summary(name, walls, answers):
    pre = [phases(a)[0] for a in answers]
    online = [phases(a)[1] for a in answers]
    wall = statistics.median(walls)
    print(f"{name:<22} wall {wall:8.2f} ms   setup+offline {statistics.median(pre):8.2f} ms"
          f"   online {statistics.median(online):7.2f} ms"
          f"   beyond the phases {wall - statistics.median(pre) - statistics.median(online):7.2f} ms"
          "   (medians per query)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="queries per client")
    n = parser.parse_args().n
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "veil-server",
                    "-p", "veil-dealer", "-p", "veil-client"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for d in ("dealer", "server", "client"):
            (tmp / d).mkdir()
        dealer = Process([str(BIN / "veil-dealer"), "--listen", "127.0.0.1:0"], tmp / "dealer")
        server = start_server(BIN, tmp / "server", dealer.addr)
        os.environ["VEIL_HOME"] = str(tmp / "client")
        inputs = [sample(i % 5) for i in range(n)]
        try:
            start = time.perf_counter()
            with veil.Client(server.addr) as client:
                connected = time.perf_counter()
                walls, answers = [], []
                for path in inputs:
                    t = time.perf_counter()
                    answers.append(client.infer(np.load(path)))
                    walls.append((time.perf_counter() - t) * 1e3)
            print(f"veil.Client: connect (setup) {(connected - start) * 1e3:.2f} ms, "
                  f"reported setup {answers[0]['setup']['ms']:.2f} ms")
            summary("veil.Client.infer", walls, answers)
            cli_walls, cli_answers = [], []
            for path in inputs:
                t = time.perf_counter()
                out = subprocess.run([str(BIN / "veil-client"), "infer", "--server",
                                      server.addr, "--input", str(path), "--json"],
                                     check=True, capture_output=True, text=True).stdout
                cli_walls.append((time.perf_counter() - t) * 1e3)
                cli_answers.append(json.loads(out))
            summary("veil-client infer", cli_walls, cli_answers)
            differ = sum(a["logits"] != b["logits"] for a, b in zip(answers, cli_answers))
            print(f"{n} queries each; answers that differ between the two: {differ}")
        finally:
            server.stop()
            dealer.stop()


if __name__ == "__main__":
    main()
