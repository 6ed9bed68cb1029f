"""Toil's Python API: ``Job`` and ``Toil`` (``from runner import Job, Toil``)."""
