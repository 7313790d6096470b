"""The worker processes of `multilevel harvest` (multilevel.eurostat.workers)."""

import multiprocessing.forkserver
import os

from multilevel.eurostat.workers import slice_pool, start_fork_server


def test_slice_workers_come_from_the_fork_server_started_before_planning():
    # `multilevel harvest` starts the fork server first thing, so its imports overlap the planning; the pools made
    # later must fork from that server (not start another one and import everything again).
    start_fork_server()
    server = multiprocessing.forkserver._forkserver._forkserver_pid
    assert server is not None and os.path.exists(f"/proc/{server}")
    with slice_pool(2) as pool:
        parents = {pool.submit(os.getppid).result() for _ in range(4)}
    assert parents == {server}
