"""Drivers for the public conformance suites and the gate CI enforces on their results.

- `conformance.cwl`: runs a CWL suite through cwltest against any CWL runner.
- `conformance.wdl`: runs DataBiosphere's WDL conformance tests against toil-wdl-runner,
  miniwdl or any runner with one of their command-line shapes.
- `conformance.gate`: per-test results, the expected-failure lists, the baselines of passing
  tests, and the rule that decides whether a run may pass CI.

The drivers run the real commands as subprocesses; nothing here imports the engine.
"""
