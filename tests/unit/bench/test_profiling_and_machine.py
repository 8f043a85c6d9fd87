"""Reading py-spy's collapsed stacks and /proc."""

from __future__ import annotations

import os

import pytest

from benchmarks import machine
from benchmarks.profiling import parse_collapsed, summarize
from benchmarks.runner import choose_profile

MAIN = "<module> (kubedirector_core/__main__.py:1)"
RUN = "run (kubedirector_core/runtime/operator.py:420)"
RECONCILE = "reconcile (kubedirector_core/runtime/reconciler.py:120)"
PLAN = "plan_cluster (kubedirector_core/plan/cluster.py:40)"
COLLAPSED = f"""\
{MAIN};{RUN};{RECONCILE};{PLAN} 6
{MAIN};{RUN};{RECONCILE};loads (orjson) 3
{MAIN};{RUN};_on_pod (kubedirector_core/runtime/operator.py:330) 1
"""


def test_collapsed_stacks_give_self_and_inclusive_shares() -> None:
    summary = summarize(COLLAPSED, top=3)
    assert summary["samples"] == 10
    by_self = summary["by_self"]
    assert isinstance(by_self, list)
    assert by_self[0] == {
        "frame": PLAN,
        "self": 0.6,
        "inclusive": 0.6,
    }
    by_inclusive = summary["by_inclusive"]
    assert isinstance(by_inclusive, list)
    reconcile = next(h for h in by_inclusive if h["frame"].startswith("reconcile"))
    # The operator's own frames, outermost ones (in every sample) left out.
    core = summary["core_by_inclusive"]
    assert isinstance(core, list)
    assert [h["frame"] for h in core] == [RUN, RECONCILE, PLAN]  # top 3; MAIN left out
    assert reconcile == {
        "frame": RECONCILE,
        "self": 0.0,
        "inclusive": 0.9,
    }


def test_a_frame_name_with_a_line_break_continues_its_stack() -> None:
    stacks = parse_collapsed(f"{MAIN};weird\nname (x.py:1) 2\n{MAIN};{PLAN} 1\n")
    assert stacks == [([MAIN, "weird\\nname (x.py:1)"], 2), ([MAIN, PLAN], 1)]


def test_a_stack_without_a_count_is_named() -> None:
    assert parse_collapsed("") == []
    with pytest.raises(ValueError, match="the last stack has no sample count"):
        parse_collapsed("a;b 3\nno count here\n")


def test_cpu_seconds_from_a_stat_line_with_a_tricky_command_name() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    fields = ["S", "1", "1", "1", "0", "-1", "4194560", "100", "0", "0", "0"]
    stat = f"4242 (python -m (kd)) {' '.join(fields)} {3 * ticks} {ticks} 0 0 20 0 5"
    assert machine.parse_stat_cpu(stat) == 4.0


def test_memory_fields_in_bytes() -> None:
    status = "Name:\tpython\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\n"
    assert machine.parse_status_kib(status, "VmHWM") == 80 * 1024 * 1024
    assert machine.memory_total_bytes("MemTotal:       25165824 kB\n") == 24 * 1024**3
    with pytest.raises(ValueError, match="no VmSwap line"):
        machine.parse_status_kib(status, "VmSwap")


def test_this_process_has_a_cost() -> None:
    cost = machine.process_cost(os.getpid())
    assert cost.peak_rss_bytes >= cost.rss_bytes > 0
    assert cost.cpu_seconds > 0
    with pytest.raises(ProcessLookupError):
        machine.process_cost(2**22 + 1)


def test_profiles() -> None:
    quick = choose_profile(quick=True, scale_max=False)
    default = choose_profile(quick=False, scale_max=False)
    assert quick.name == "quick"
    assert max(quick.scale_sizes) < max(default.scale_sizes)
    assert 1000 not in default.scale_sizes
    biggest = choose_profile(quick=False, scale_max=True)
    assert biggest.scale_sizes[-1] == 1000
    assert biggest.scale_nodes == 100
    assert biggest.operator_args() == ["--workers", "4", "--action-concurrency", "8"]
