"""Storage (job stores) and scheduler (batch systems) backends of moil.

A backend imports only the contracts in this package (``backends.jobstore.base``,
``backends.batch.base``, ``backends.registry``); never ``runner`` or ``languages``.
"""
