"""The ``aws:`` job store beside ``file:``, on a local S3 server (moto, or s3rver).

Prints, in one run:

- scatter: a CWL scatter of N trivial ``echo`` jobs and one ``cat`` (``bench_cwl``'s
  workflow), with ``--jobStore file:`` and with ``--jobStore aws:``: wall time, CPU of the
  process tree, and S3 requests per trivial job: (requests of the N run - requests of a
  run of ``--small`` items) / (N - small), from the request log every process of the run
  appends to (``MOIL_S3_REQUEST_LOG``: a boto3 event hook, one line per request attempt);
- big file: a file of ``--big-gib`` GiB made by one step and read by two more (``wc -c``,
  ``tail -c``), on ``aws:``: bytes sent to S3 (the request log's body sizes), peak RSS of the
  leader and of the largest worker (the process tree sampled every 0.1 s);
- clean: ``toil clean`` of an ``aws:`` store holding ``--objects`` objects: wall time and
  requests.

Usage::

    .venv/bin/python bench/bench_s3.py [--n 1000] [--small 10] [--big-gib 2]
        [--objects 100000] [--server moto|s3rver] [--skip scatter,big,clean]

The S3 server runs on this host, so a request costs a local round trip, not S3's ~10-30 ms:
the aws: figures are a lower bound for real S3 (request counts and bytes are not).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import Measure, moil_command, run_measured
from bench.bench_cwl import CAT, ECHO, SCATTER
from tests.services import s3 as s3_service

BIG = """\
cwlVersion: v1.2
class: Workflow
inputs:
  size: long
steps:
  make:
    run:
      class: CommandLineTool
      baseCommand: [head, -c]
      inputs: {size: {type: long, inputBinding: {position: 1}}}
      arguments: [{valueFrom: /dev/zero, position: 2}]
      stdout: big.bin
      outputs: {big: {type: stdout}}
    in: {size: size}
    out: [big]
  count:
    run:
      class: CommandLineTool
      baseCommand: [wc, -c]
      inputs: {file: {type: File, inputBinding: {position: 1}}}
      stdout: count.txt
      outputs: {count: {type: stdout}}
    in: {file: make/big}
    out: [count]
  tail:
    run:
      class: CommandLineTool
      baseCommand: [tail, -c, "16"]
      inputs: {file: {type: File, inputBinding: {position: 1}}}
      stdout: tail.txt
      outputs: {tail: {type: stdout}}
    in: {file: make/big}
    out: [tail]
outputs:
  count: {type: File, outputSource: count/count}
  tail: {type: File, outputSource: tail/tail}
"""


def _requests(path: str) -> tuple[collections.Counter[str], int]:
    """Requests by operation, and bytes sent, of a request log."""
    counts: collections.Counter[str] = collections.Counter()
    sent = 0
    if os.path.exists(path):
        with open(path) as log:
            for line in log:
                operation, size, *_ = line.split(" ")
                counts[operation] += 1
                sent += int(size or 0)
    return counts, sent


class TreeSampler(threading.Thread):
    """Peak RSS of a process and of the largest Python descendant (a worker)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.leader = 0
        self.worker = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                root = psutil.Process(self.pid)
                self.leader = max(self.leader, root.memory_info().rss)
                for child in root.children(recursive=True):
                    try:  # a worker is a fork of the leader or a Python process; tools not
                        if child.name() == root.name() or "python" in child.name():
                            self.worker = max(self.worker, child.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.done.wait(0.1)


class Bench:
    def __init__(self, args: argparse.Namespace, work: str, server: s3_service.S3Server):
        self.args = args
        self.work = work
        self.server = server
        self.bucket = server.new_bucket("moil-bench")
        for name, text in (("echo.cwl", ECHO), ("cat.cwl", CAT), ("scatter.cwl", SCATTER),
                           ("big.cwl", BIG)):
            with open(os.path.join(work, name), "w") as doc:
                doc.write(text)

    def env(self, request_log: str) -> dict[str, str]:
        env = self.server.env(os.environ)
        env["MOIL_S3_REQUEST_LOG"] = request_log
        env["MOIL_S3_CACHE"] = os.path.join(self.work, "s3-cache")
        return env

    def run(self, store: str, doc: str, job: dict[str, Any], tag: str,
            sampler: bool = False) -> tuple[Measure, str, TreeSampler | None]:
        job_path = os.path.join(self.work, f"{tag}.json")
        with open(job_path, "w") as out:
            json.dump(job, out)
        request_log = os.path.join(self.work, f"{tag}.requests")
        outdir = os.path.join(self.work, f"out-{tag}")
        argv = [moil_command("toil-cwl-runner"), "--outdir", outdir, os.path.join(self.work, doc),
                job_path]
        if store == "aws":
            argv[1:1] = ["--jobStore", f"aws:{self.server.region}:{self.bucket}/{tag}"]
        tree: TreeSampler | None = None
        if sampler:
            tree = _sample_next_child()
        measure = run_measured(argv, self.work, env=self.env(request_log), timeout=3600)
        if tree is not None:
            tree.done.set()
            tree.join()
        if measure.returncode != 0:
            raise SystemExit(f"{tag}: exit {measure.returncode}\n{measure.stderr_tail}")
        return measure, request_log, tree

    def scatter(self) -> None:
        n, small = self.args.n, self.args.small
        rows = []
        for store in ("file", "aws"):
            measure, log, _ = self.run(store, "scatter.cwl", {"items": list(range(n))},
                                       f"scatter-{store}-{n}")
            rows.append((store, measure, _requests(log)))
        _, small_log, _ = self.run("aws", "scatter.cwl", {"items": list(range(small))},
                                   f"scatter-aws-{small}")
        (counts, _), (small_counts, _) = rows[1][2], _requests(small_log)
        per_job = (sum(counts.values()) - sum(small_counts.values())) / (n - small)
        marginal = {op: (counts[op] - small_counts[op]) / (n - small) for op in counts}
        print(f"scatter of {n} echo jobs + 1 cat (one run each)")
        print(f"  {'store':6} {'wall s':>8} {'cpu s':>8} {'S3 requests':>12}")
        for store, measure, (ops, _) in rows:
            print(f"  {store:6} {measure.wall:8.1f} {measure.cpu:8.1f} {sum(ops.values()):12d}")
        print(f"  aws/file wall: {rows[1][1].wall / rows[0][1].wall:.2f}x")
        print(f"  S3 requests per trivial job (marginal, {n} vs {small} items): {per_job:.2f}")
        print("    by operation: " + ", ".join(
            f"{op} {value:.2f}" for op, value in sorted(marginal.items()) if value > 0.005))

    def big(self) -> None:
        size = int(self.args.big_gib * 2**30)
        measure, log, tree = self.run("aws", "big.cwl", {"size": size}, "big", sampler=True)
        counts, sent = _requests(log)
        assert tree is not None
        print(f"a {self.args.big_gib:g} GiB file made by one step, read by two (aws:)")
        print(f"  wall {measure.wall:.1f} s, cpu {measure.cpu:.1f} s, {sum(counts.values())} "
              f"requests, {sent / 2**30:.2f} GiB sent to S3 ({sent / size:.2f}x the file)")
        print(f"  peak RSS: leader {tree.leader / 2**20:.0f} MiB, largest worker "
              f"{tree.worker / 2**20:.0f} MiB")

    def clean(self) -> None:
        objects = self.args.objects
        tag = "clean"
        self.run("aws", "scatter.cwl", {"items": [1, 2]}, tag)  # a real store, then filled
        locator = f"aws:{self.server.region}:{self.bucket}/{tag}-kept"
        self.run_keep(locator)
        s3 = self.server.client(max_pool_connections=64)
        start = time.perf_counter()
        keys = [f"{tag}-kept/files/{uuid.uuid4().hex}/f.txt" for _ in range(objects)]
        with ThreadPoolExecutor(64) as pool:
            list(pool.map(lambda key: s3.put_object(Bucket=self.bucket, Key=key, Body=b"x"),
                          keys))
        filled = time.perf_counter() - start
        request_log = os.path.join(self.work, "clean.requests")
        measure = run_measured([moil_command("toil"), "clean", locator], self.work,
                               env=self.env(request_log), timeout=3600)
        counts, _ = _requests(request_log)
        left = s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{tag}-kept/").get("KeyCount")
        print(f"toil clean of an aws: store with {objects} objects (filled in {filled:.0f} s)")
        print(f"  exit {measure.returncode}, wall {measure.wall:.1f} s, {left} objects left, "
              f"requests: " + ", ".join(f"{op} {c}" for op, c in sorted(counts.items())))
        if measure.returncode != 0:
            print("  toil clean said: " + measure.stderr_tail.strip()[-1500:])

    def run_keep(self, locator: str) -> None:
        job_path = os.path.join(self.work, "keep.json")
        with open(job_path, "w") as out:
            json.dump({"items": [1]}, out)
        argv = [moil_command("toil-cwl-runner"), "--jobStore", locator, "--clean", "never",
                "--outdir", os.path.join(self.work, "out-keep"),
                os.path.join(self.work, "scatter.cwl"), job_path]
        measure = run_measured(argv, self.work, env=self.env(os.devnull), timeout=600)
        if measure.returncode != 0:
            raise SystemExit(f"keep: exit {measure.returncode}\n{measure.stderr_tail}")


def _sample_next_child() -> TreeSampler:
    """A sampler of the next child this process starts (run_measured starts it)."""
    me = psutil.Process()
    before = {child.pid for child in me.children()}

    class Waiting(TreeSampler):
        def run(self) -> None:
            while not self.done.is_set():
                new = [c.pid for c in me.children() if c.pid not in before]
                if new:
                    self.pid = new[0]
                    super().run()
                    return
                self.done.wait(0.02)

    sampler = Waiting(0)
    sampler.start()
    return sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--big-gib", type=float, default=2.0)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--server", choices=s3_service.KINDS, default="moto")
    parser.add_argument("--skip", default="", help="comma list of scatter,big,clean")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="moil-bench-s3-") as work:
        server = s3_service.start(args.server, os.path.join(work, "server"))
        try:
            bench = Bench(args, work, server)
            print(f"S3 server: {args.server} on {server.endpoint_url}; "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            for part in ("scatter", "big", "clean"):
                if part not in skip:
                    getattr(bench, part)()
                    sys.stdout.flush()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
