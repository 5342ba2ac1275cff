"""A stop requested on ONE rank (a signal that reached only it, or reached it a step earlier)
stops every rank after the same step, so no rank is left waiting in a collective."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from jepa_core.dist import worker_process_group
from tests.jepa_core.test_parallel import free_port
from tests.jepa_core.test_precision import tiny_batch, tiny_trainer

STOP_ON_RANK, STOP_AFTER_STEP, CHECK_EVERY, STEPS = 1, 3, 2, 12


class _RequestStop:
    def __init__(self, rank: int) -> None:
        self.rank = rank

    def on_step_end(self, trainer, out) -> None:
        if self.rank == STOP_ON_RANK and trainer.step == STOP_AFTER_STEP:
            trainer.stop_requested = True  # what PreemptionHandler does on SIGTERM/SIGUSR1


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    with worker_process_group("gloo", rank=rank, world_size=2):
        trainer = tiny_trainer()
        trainer.stop_check_every = CHECK_EVERY
        loader = [tiny_batch(4, seed=i) for i in range(STEPS)]
        trainer.fit(loader, epochs=1, callbacks=[_RequestStop(rank)])
        torch.save({"step": trainer.step, "stop": trainer.stop_requested}, os.path.join(out, f"rank{rank}.pt"))
        dist.barrier()  # both ranks done before teardown: gloo can abort a rank torn down mid-exchange


def test_a_stop_on_one_rank_stops_all_ranks_at_the_same_check_step(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    # rank 1 asked after step 3; the next step where ranks agree is 4, and both stop there
    assert ranks == [{"step": 4, "stop": True}, {"step": 4, "stop": True}]


def test_one_process_stops_right_after_the_requesting_step():
    trainer = tiny_trainer()
    trainer.stop_check_every = CHECK_EVERY  # irrelevant without a process group: no sync, no delay
    trainer.fit([tiny_batch(4, seed=i) for i in range(STEPS)], epochs=1, callbacks=[_RequestStop(STOP_ON_RANK)])
    assert trainer.step == STOP_AFTER_STEP
