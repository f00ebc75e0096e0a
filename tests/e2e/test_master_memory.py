# SPDX-License-Identifier: GPL-2.0-or-later
"""What the master writes per accepted client (doc/DESIGN.md §3, the master's own
memory). Each page the master writes between two forks is copied, and the old copy
stays with the sessions forked before; so the master's page frames are read from
/proc/PID/pagemap before and after each idle login, after login traffic that leaves
freed chunks all over its heap. A page whose frame changed is one the master wrote.
"""

import random
import struct

import pytest

from harness import Control, wait_for

pytestmark = pytest.mark.moatftpd_only

CHURN_ROUNDS, CHURN_CLIENTS, IDLE = 6, 16, 12
PFN_MASK = (1 << 55) - 1


def frames(pid):
    """{address: (page frame, mapping name)} of every present page (root sees frames)."""
    out = {}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else "[anon]"
            if name == "[vsyscall]":
                continue
            pagemap.seek(lo // 4096 * 8)
            data = pagemap.read((hi - lo) // 4096 * 8)
            for i in range(len(data) // 8):
                entry = struct.unpack_from("<Q", data, i * 8)[0]
                if entry >> 63:
                    out[lo + i * 4096] = (entry & PFN_MASK, name)
    return out


def copied(before, after):
    """Mapping names of the pages present before whose frame changed: copies."""
    return [name for addr, (pfn, name) in after.items()
            if addr in before and before[addr][0] != pfn]


def master_idle(pid):
    with open(f"/proc/{pid}/wchan") as f:
        return "epoll" in f.read()


def login(srv):
    c = Control("127.0.0.1", srv.port)
    assert c.reply()[0] == 220 and c.login("anonymous", "x") == 230
    return c


def churn(srv):
    """Sessions opened together and closed in random order, as the bench's 16-client
    login rows do: what the master freed for them lies scattered over its heap."""
    rng = random.Random(9)
    for _ in range(CHURN_ROUNDS):
        conns = [login(srv) for _ in range(CHURN_CLIENTS)]
        rng.shuffle(conns)
        for c in conns:
            c.close()
        wait_for(lambda: len(srv.pids("moat-helper")) == 0)


def sanitized(pid):
    """AddressSanitizer builds keep everything on the heap, which it checks."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def test_an_accepted_client_costs_the_master_no_heap_page(server):
    srv = server({"idle_session_timeout": 600})
    master = srv.proc.pid
    if sanitized(master):
        pytest.skip("AddressSanitizer build: the master's memory is the heap")
    churn(srv)
    idle, per_accept = [], []
    try:
        for _ in range(IDLE):
            wait_for(lambda: master_idle(master))
            before = frames(master)
            idle.append(login(srv))
            wait_for(lambda: master_idle(master))
            per_accept.append(copied(before, frames(master)))
    finally:
        for c in idle:
            c.close()
    # The first sessions after the churn may still meet pages the master had not
    # written since its last fork; from then on each accept is alike.
    steady = per_accept[2:]
    heap = sorted(sum(1 for n in pages if n == "[heap]") for pages in steady)
    total = sorted(len(pages) for pages in steady)
    # Before the master kept its session table in its own memory: 6-8 heap pages and
    # 9-12 in all. Now the stack (1-2) and the thread's TLS block (errno, rseq: 2).
    assert heap[len(heap) // 2] == 0, per_accept
    assert total[len(total) // 2] <= 5, per_accept
