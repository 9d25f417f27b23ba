"""Where work runs: the ``Stage`` / ``Executor`` protocols (:mod:`.stage`) and the executors other than
the local one (see :mod:`instructkit.executor`): today, Ray.

Nothing here is imported by the CLI at start-up; ``ray`` is imported only inside these modules.
"""
