"""executors.stage: LocalExecutor.map runs any Stage in batches, in order, one output per item."""

import pytest

from instructkit.executor import get_executor


class Squares:
    name, cpus = "squares", 1.0

    def __init__(self, batch_size: int, drop_last: bool = False):
        self.batch_size, self.drop_last = batch_size, drop_last
        self.setups, self.batches = 0, []

    def setup(self) -> None:
        self.setups += 1

    def process_batch(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        out = [i * i for i in items]
        return out[:-1] if self.drop_last else out


def test_local_map_batches_in_order_and_sets_up_once():
    stage, told = Squares(batch_size=3), []
    got = get_executor("local").map(stage, list(range(8)), progress=told.append)
    assert got == [i * i for i in range(8)]
    assert stage.batches == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert stage.setups == 1 and told == [3, 3, 2]


def test_local_map_of_nothing_sets_nothing_up():
    stage = Squares(batch_size=4)
    assert get_executor("local").map(stage, []) == [] and stage.setups == 0


def test_a_batch_that_loses_a_row_is_an_error():
    with pytest.raises(RuntimeError, match="squares returned 2 outputs for 3 items"):
        get_executor("local").map(Squares(batch_size=3, drop_last=True), [1, 2, 3])
