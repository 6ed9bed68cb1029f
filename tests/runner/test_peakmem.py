"""Per-job peak memory (runner.jobenv.peakmem) in a long-lived process, as in a pool worker."""

from __future__ import annotations

import subprocess
import sys

from runner.jobenv.peakmem import JobMemory

MIB = 1024


def _hold_in_process(mib: int) -> None:
    block = bytearray(mib * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    del block


def test_a_small_job_after_a_big_one_reports_its_own_peak() -> None:
    with JobMemory(sample=False) as big:
        _hold_in_process(150)
    with JobMemory(sample=False) as small:
        _hold_in_process(10)
    assert big.peak_kib() >= small.peak_kib() + 120 * MIB, (big.peak_kib(), small.peak_kib())


def test_a_tool_process_counts_for_the_job() -> None:
    holder = "b = bytearray(200 * 1024 * 1024); import time; time.sleep(0.6)"
    with JobMemory(sample=True, interval=0.05) as job:
        subprocess.run([sys.executable, "-c", holder], check=True)
    assert job.sampled_kib >= 200 * MIB
    assert job.peak_kib() >= 200 * MIB


SHORT_TOOL = """
import subprocess, sys
from runner.jobenv.peakmem import JobMemory
with JobMemory(sample=False) as job:
    subprocess.run([sys.executable, "-c", "b = bytearray(300 * 1024 * 1024)"], check=True)
print(job.peak_kib())
"""


def test_a_short_tool_bigger_than_the_worker_is_caught_without_sampling() -> None:
    # in a fresh process, as a worker is: RUSAGE_CHILDREN of this test process already holds
    # the peak of other tests' bigger children, which hides this tool's growth
    out = subprocess.run(
        [sys.executable, "-c", SHORT_TOOL], capture_output=True, text=True, check=True
    )
    assert int(out.stdout) >= 300 * MIB, out


MEASURE = """
import subprocess, sys
from runner.jobenv.peakmem import JobMemory
ballast = bytearray(60 * 1024 * 1024)  # a worker of some size
for offset in range(0, len(ballast), 4096):
    ballast[offset] = 1
with JobMemory(sample=True, interval=0.05) as small:
    subprocess.run(["sleep", "0.4"], check=True)
holder = "b = bytearray(200 * 1024 * 1024); import time; time.sleep(0.4)"
with JobMemory(sample=True, interval=0.05) as big:
    subprocess.run([sys.executable, "-c", holder], check=True)
print(small.tool_peak_kib(), small.peak_kib(), big.tool_peak_kib(), big.peak_kib())
"""


def test_a_tools_own_peak_leaves_the_worker_out() -> None:
    # in a fresh process, as a worker is: this test process has other tests' children
    out = subprocess.run(
        [sys.executable, "-c", MEASURE], capture_output=True, text=True, check=True
    ).stdout.split()
    small_tool, small_job, big_tool, big_job = (int(v) for v in out)
    assert small_job >= 60 * MIB, "the worker's own memory counts for the job"
    assert 0 < small_tool < 8 * MIB, (small_tool, small_job)
    assert 200 * MIB <= big_tool < big_job, (big_tool, big_job)


def test_a_python_jobs_own_peak_is_its_growth_in_the_worker() -> None:
    with JobMemory(sample=False) as job:
        _hold_in_process(100)
    assert 90 * MIB <= job.tool_peak_kib() < job.peak_kib()
