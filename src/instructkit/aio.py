"""Small asyncio helpers shared by the stages that fan out model calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def gather_or_cancel(*aws: Awaitable[Any]) -> list[Any]:
    """Like ``asyncio.gather``, but the first failure cancels the others and waits for them before it
    is raised: no orphan keeps calling a model after the run has failed, and no exception is left
    unretrieved for ``asyncio.run`` to print at shutdown. Results keep the order of ``aws``."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    if not tasks:
        return []
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # we were cancelled ourselves: take the children down with us
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    failed = [t for t in tasks if t in done and not t.cancelled() and t.exception() is not None]
    if failed:
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # retrieve every outcome
        raise failed[0].exception()  # type: ignore[misc]
    return [t.result() for t in tasks]
