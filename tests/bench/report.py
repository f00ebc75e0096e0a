# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's table: one row per workload with both servers' figures, the server's CPU
per unit of work beside each, the clients' CPU (to show they were not the limit), the
moatftpd/vsftpd ratio, the issue's target for the row and whether it is met."""

import statistics

CLIENT_BOUND = 0.9  # clients busier than this share of their core may be the limit


class Target:
    """A bound on moatftpd/vsftpd for one figure of a row ("value" or "cpu")."""

    def __init__(self, figure, op, bound):
        self.figure, self.op, self.bound = figure, op, bound

    def met(self, ratio):
        return ratio >= self.bound if self.op == ">=" else ratio <= self.bound

    def text(self):
        return f"{'CPU' if self.figure == 'cpu' else 'x'} {self.op} {self.bound:g}"


class Row:
    """values/cpu/client: {server: number or None}; cpu is server CPU per cpu_unit."""

    def __init__(self, label, unit, fmt, targets=(), cpu_unit=None, cpu_fmt="{:.3f}"):
        self.label, self.unit, self.fmt = label, unit, fmt
        self.targets, self.cpu_unit, self.cpu_fmt = list(targets), cpu_unit, cpu_fmt
        self.values, self.cpu, self.client, self.runs = {}, {}, {}, {}
        self.absolute = None  # (needed, text): a target on moatftpd's own figure
        self.absent = {}  # server -> why it has no figure

    def add_runs(self, kind, results, value, cpu=None):
        """Medians over the runs; value(result) and cpu(result) pick the figures."""
        self.runs[kind] = [value(r) for r in results]
        self.values[kind] = statistics.median(self.runs[kind])
        if cpu:
            self.cpu[kind] = statistics.median(cpu(r) for r in results)
        self.client[kind] = statistics.median(r.client_share() for r in results)

    def ratio(self, figure="value"):
        table = self.cpu if figure == "cpu" else self.values
        m, v = table.get("moatftpd"), table.get("vsftpd")
        return m / v if m is not None and v else None

    def verdict(self):
        if self.absolute:
            return "yes" if self.values.get("moatftpd") == self.absolute[0] else "NO"
        if not self.targets:
            return "-"
        ratios = [self.ratio(t.figure) for t in self.targets]
        if any(r is None for r in ratios):
            return "n/a"
        return "yes" if all(t.met(r) for t, r in zip(self.targets, ratios)) else "NO"

    def target_text(self):
        if self.absolute:
            return self.absolute[1]
        return ", ".join(t.text() for t in self.targets) or "-"


def _cell(fmt, value):
    return "-" if value is None else fmt.format(value)


def _ratio_cell(r):
    return "-" if r is None else f"{r:.2f}x"


def table(rows, kinds):
    """The table as lines of text."""
    head = (f"{'workload':40}" + "".join(f"{k:>11}" for k in kinds) + f"{'ratio':>8}"
            + f"  {'target':22}{'met':5}" + "server CPU per unit (ratio)".ljust(44)
            + "client CPU")
    lines = [head, "-" * len(head)]
    for row in rows:
        vals = "".join(f"{_cell(row.fmt, row.values.get(k)) if k not in row.absent else 'n/a':>11}"
                       for k in kinds)
        line = (f"{row.label + ' (' + row.unit + ')':40}" + vals
                + f"{_ratio_cell(row.ratio()):>8}" + f"  {row.target_text():22}"
                + f"{row.verdict():5}")
        cpu = ""
        if row.cpu_unit:
            cpu = (" / ".join(_cell(row.cpu_fmt, row.cpu.get(k)) for k in kinds)
                   + f" {row.cpu_unit} ({_ratio_cell(row.ratio('cpu'))})")
        client = " / ".join(_cell("{:.0%}", row.client.get(k)) for k in kinds)
        busy = any((row.client.get(k) or 0) > CLIENT_BOUND for k in kinds)
        lines.append(line + cpu.ljust(44) + client + (" CLIENT-BOUND?" if busy else ""))
    return lines


def run_lines(rows, kinds):
    """Every run behind each median, for the notes."""
    out = []
    for row in rows:
        parts = [f"{k} " + " ".join(_cell(row.fmt, v) for v in row.runs[k])
                 for k in kinds if row.runs.get(k)]
        if parts:
            out.append(f"{row.label}: " + "; ".join(parts))
    return out
