# SPDX-License-Identifier: GPL-2.0-or-later
"""What the bench reads from the kernel: CPU time of a server's whole process tree and
of the bench's own clients, CPU pinning, and the memory of a server's sessions.

Server CPU is the sum over the server's process tree from /proc/PID/stat: each live
process's own time plus the time of the children it has already reaped (cutime and
cstime), so a session that came and went is counted once, in whoever waited for it.
A process whose parent exits first (vsftpd's session processes may outlive their
parent) is reaped by the namespace's init (nsrun's bash, pid 1): its time shows in
pid 1's cutime and cstime, which count nothing else, since the bench waits for its own
clients. Sample waits for the sessions of the measured work to end before it reads.
That works with cgroup v1 or v2 or none, and needs nothing but /proc.
"""

import gzip
import os
import resource
import time

TICK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = 0, 1  # the CPUs the server and the clients are pinned to


_CAN_PIN = {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)  # before pin_clients


def pinning_possible():
    return _CAN_PIN


def pin_clients():
    """The bench and every client it starts (curl, login processes) run on CLIENT_CPU."""
    if pinning_possible():
        os.sched_setaffinity(0, {CLIENT_CPU})


def pin_server(pid):
    """The server's master; its sessions inherit the mask when they fork."""
    if pinning_possible():
        os.sched_setaffinity(pid, {SERVER_CPU})


def _stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on


def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and fields[0] != "Z":
                kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def tree(pid):
    """pid and every live process below it."""
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu_seconds(pid):
    """CPU seconds (user + system) spent so far by pid's tree, reaped children included."""
    total = 0
    for p in tree(pid):
        fields = _stat_fields(p)
        if fields:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def orphans_cpu_seconds():
    """CPU seconds of the orphans the namespace's init has reaped so far."""
    fields = _stat_fields(1)
    return sum(int(x) for x in fields[13:15]) / TICK if fields else 0.0


def server_cpu_seconds(pid):
    return tree_cpu_seconds(pid) + orphans_cpu_seconds()


def unreaped(pid):
    """Zombies whose parent is in pid's tree or is the namespace's init: a zombie's
    CPU time is in no live process's cutime until its parent has waited for it."""
    parents = set(tree(pid)) | {1}
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            count += bool(fields and fields[0] == "Z" and int(fields[1]) in parents)
    return count


def wait_settled(pid, processes, timeout=30):
    """Until pid's tree is back to `processes` live ones and every session that ended
    has been reaped (else its CPU would be counted nowhere: a 1 GiB download read
    0.0 core-s/GB now and then), or the timeout."""
    deadline = time.monotonic() + timeout
    while ((len(tree(pid)) > processes or unreaped(pid))
           and time.monotonic() < deadline):
        time.sleep(0.01)


def irq_time_accounting():
    """Whether the kernel keeps softirq time apart from the task it interrupted
    (CONFIG_IRQ_TIME_ACCOUNTING), or None when /proc/config.gz is absent. Without it,
    the client's loopback receive work done in softirq on the server's CPU is charged
    to the server."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return any(line.strip() == "CONFIG_IRQ_TIME_ACCOUNTING=y" for line in f)
    except OSError:
        return None


def softirq_seconds():
    """{cpu: softirq seconds so far} from /proc/stat: tick samples, so only sums over
    a few seconds mean much."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                out[int(name[3:])] = int(fields[6]) / TICK
    return out


def own_cpu_seconds():
    """CPU seconds of the bench process and of the clients it has waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Sample:
    """Wall time, server CPU, client CPU and softirq time on (the server's CPU, the
    clients' CPU) over one measured piece of work."""

    def __init__(self, server_pid):
        self.pid = server_pid
        self.wall = self.server = self.client = self.softirq = None

    def __enter__(self):
        self._processes = len(tree(self.pid))
        self._t0, self._s0, self._c0 = (time.monotonic(), server_cpu_seconds(self.pid),
                                        own_cpu_seconds())
        self._q0 = softirq_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self._t0
        self.client = own_cpu_seconds() - self._c0
        q1 = softirq_seconds()
        self.softirq = tuple(q1.get(c, 0) - self._q0.get(c, 0) for c in (SERVER_CPU, CLIENT_CPU))
        wait_settled(self.pid, self._processes)
        self.server = server_cpu_seconds(self.pid) - self._s0


def rollup(pid):
    """{field: KiB} from /proc/PID/smaps_rollup (Pss, Private_Dirty, ...)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def session_memory(master_pid):
    """Every process below the master: {comm: [count, Pss KiB, Private_Dirty KiB]}."""
    by_comm = {}
    for p in tree(master_pid)[1:]:
        r = rollup(p)
        entry = by_comm.setdefault(comm(p), [0, 0, 0])
        entry[0] += 1
        entry[1] += r.get("Pss", 0)
        entry[2] += r.get("Private_Dirty", 0)
    return by_comm


def raise_fd_limit(want):
    """The bench holds one socket per concurrent session; returns the limit it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, want))
    if target != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
