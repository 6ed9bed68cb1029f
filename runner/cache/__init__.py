"""The call cache: a job's result kept under its cache key, for reuse by later runs.

``keys`` holds the interface a front end implements (the key of one work node, the
conversion of its result to and from a portable form); ``store`` the cache's storage (a
local directory; the ``s3://`` seam is ``open_cache``); ``decide`` what the leader asks
before it issues a job and after one finished, and the lines that say why a job ran again.
"""
