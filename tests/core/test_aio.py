"""gather_or_cancel: the first failure cancels the siblings and nothing is left unretrieved."""

from __future__ import annotations

import asyncio

import pytest

from instructkit.aio import gather_or_cancel


def test_results_keep_order():
    async def val(x, delay):
        await asyncio.sleep(delay)
        return x

    assert asyncio.run(gather_or_cancel(val(1, 0.03), val(2, 0.0), val(3, 0.01))) == [1, 2, 3]
    assert asyncio.run(gather_or_cancel()) == []


def test_first_failure_cancels_the_rest_and_leaves_nothing_unretrieved():
    finished, cancelled, unhandled = [], [], []

    async def slow(i):
        try:
            await asyncio.sleep(5)
            finished.append(i)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise

    async def bad():
        await asyncio.sleep(0.01)
        raise ValueError("model said no")

    async def also_bad():
        await asyncio.sleep(0.01)
        raise KeyError("second failure")

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: unhandled.append(ctx))
        await gather_or_cancel(slow(1), bad(), slow(2), also_bad())

    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="model said no"):  # the first failure in argument order
            loop.run_until_complete(main())
    finally:
        loop.close()
    assert sorted(cancelled) == [1, 2] and finished == []
    assert unhandled == []  # the second failure was retrieved, not left for shutdown to print
