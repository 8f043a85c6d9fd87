"""Hook data fails where it is built, with a message that says what to fix."""

from __future__ import annotations

import pytest

from kubedirector_core import (
    AutoscaleInput,
    DoneWhen,
    ExecAction,
    GangPolicy,
    MemberFile,
    NodeDownDecision,
    ResizeDecision,
    ResizeVerdict,
)


def test_exec_action_normalises_and_checks_its_commands() -> None:
    action = ExecAction(key="k", member="m-0", command=["hdfs", "dfsadmin"])  # type: ignore[arg-type]
    assert action.command == ("hdfs", "dfsadmin")
    assert hash(action) == hash(ExecAction(key="k", member="m-0", command=("hdfs", "dfsadmin")))
    with pytest.raises(TypeError, match="not the string"):
        ExecAction(key="k", member="m-0", command="rm -rf /")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="check command is required"):
        ExecAction(key="k", member="m-0", command=("x",), done_when=DoneWhen.CHECK_SUCCEEDS)
    with pytest.raises(ValueError, match="empty command"):
        ExecAction(key="k", member="m-0", command=())


@pytest.mark.parametrize("path", ["etc/x", "/etc/../x", "/etc/x/"])
def test_member_file_paths_are_absolute_and_normalised(path: str) -> None:
    with pytest.raises(ValueError, match="absolute and normalised"):
        MemberFile(path=path, content="")


def test_decisions_need_what_a_person_or_the_core_will_use() -> None:
    with pytest.raises(ValueError, match="reason"):
        ResizeDecision.refuse("")
    with pytest.raises(ValueError, match="actions or retry_after_seconds"):
        ResizeDecision.wait()
    with pytest.raises(ValueError, match="only a WAIT"):
        ResizeDecision(
            verdict=ResizeVerdict.PROCEED,
            actions=(ExecAction(key="k", member="m", command=("x",)),),
        )
    with pytest.raises(ValueError, match="reason"):
        NodeDownDecision.replace_member("")
    with pytest.raises(ValueError, match="retry_after_seconds"):
        NodeDownDecision.wait("waiting", 0)


def test_bounds_and_gangs_are_checked() -> None:
    with pytest.raises(ValueError, match="min_members <= max_members"):
        AutoscaleInput(role="w", current_members=1, min_members=3, max_members=2)
    with pytest.raises(ValueError, match="at least 1"):
        GangPolicy(min_members={"worker": 0})
    gang = GangPolicy(min_members={"b": 1, "a": 2})
    assert list(gang.min_members) == ["a", "b"]
    with pytest.raises(TypeError):
        gang.min_members["c"] = 1  # type: ignore[index]
