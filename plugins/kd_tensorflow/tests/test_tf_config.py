"""TF_CONFIG: every task is told the same training cluster and its own place in it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import tf_builders as tf

import kubedirector_core as kd

TF_CONFIG = "/etc/guestconfig/tensorflow/tf_config.json"


def _files(the_cluster: kd.KubeDirectorCluster, member: kd.Member) -> dict[str, kd.MemberFile]:
    role = the_cluster.role(member.role)
    assert role is not None
    files = tf.hooks().member_files(tf.app(), the_cluster, role, member)
    return {f.path: f for f in files}


def _tf_config(the_cluster: kd.KubeDirectorCluster, member: kd.Member) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(_files(the_cluster, member)[TF_CONFIG].content)
    return parsed


def _hosts(role: str, count: int) -> list[str]:
    return [f"resnet-gpu-{role}-{i}.{tf.DOMAIN}:2222" for i in range(count)]


def test_each_member_gets_the_whole_cluster_and_its_own_task() -> None:
    the_cluster = tf.cluster()
    expected_cluster = {"chief": _hosts("chief", 1), "worker": _hosts("worker", 4)}

    configs = [_tf_config(the_cluster, tf.member(the_cluster, "chief", 0))] + [
        _tf_config(the_cluster, tf.member(the_cluster, "worker", i)) for i in range(4)
    ]

    assert [c["cluster"] for c in configs] == [expected_cluster] * 5
    assert [c["task"] for c in configs] == [{"type": "chief", "index": 0}] + [
        {"type": "worker", "index": i} for i in range(4)
    ]


def test_parameter_servers_join_the_cluster_and_the_evaluator_does_not() -> None:
    document = tf.wire()
    tf.add_role(document, "ps", 2)
    tf.add_role(document, "evaluator", 1)
    the_cluster = tf.cluster(document)

    evaluator = _tf_config(the_cluster, tf.member(the_cluster, "evaluator", 0))
    ps = _tf_config(the_cluster, tf.member(the_cluster, "ps", 1))

    assert evaluator["cluster"] == ps["cluster"]
    assert evaluator["cluster"] == {
        "chief": _hosts("chief", 1),
        "worker": _hosts("worker", 4),
        "ps": _hosts("ps", 2),
    }
    assert evaluator["task"] == {"type": "evaluator", "index": 0}
    assert ps["task"] == {"type": "ps", "index": 1}


def test_member_names_follow_the_statefulsets_in_the_status() -> None:
    document = tf.wire()
    document["status"] = {"roles": [{"id": "worker", "statefulSet": "kdss-x7k2p"}]}
    the_cluster = tf.cluster(document)
    chief = tf.member(the_cluster, "chief", 0)

    config = _tf_config(the_cluster, chief)

    assert config["cluster"] == {
        "chief": _hosts("chief", 1),
        "worker": [f"kdss-x7k2p-{i}.{tf.DOMAIN}:2222" for i in range(4)],
    }


def test_configmeta_holds_the_same_cluster_and_every_members_task() -> None:
    document = tf.wire()
    document["metadata"]["namespace"] = "ml"
    document["status"] = {"clusterService": "kdhs-abc12"}
    the_cluster = tf.cluster(document)

    meta = tf.hooks().configmeta(tf.app(), the_cluster)["tensorflow"]
    chief = _tf_config(the_cluster, tf.member(the_cluster, "chief", 0))

    assert meta["cluster"] == chief["cluster"]
    assert meta["tasks"]["resnet-gpu-worker-3"] == {"type": "worker", "index": 3}
    assert meta["restart_policy"] == "group"
    assert meta["gpus"] == {"chief": 1, "worker": 1}
    assert meta["tf_config_path"] == TF_CONFIG


def test_a_resize_changes_every_members_tf_config() -> None:
    document = tf.wire()
    before = _files(tf.cluster(document), tf.member(tf.cluster(document), "worker", 0))
    tf.role_doc(document, "worker")["members"] = 6
    after = _files(tf.cluster(document), tf.member(tf.cluster(document), "worker", 0))

    assert json.loads(after[TF_CONFIG].content)["cluster"]["worker"] == _hosts("worker", 6)
    assert after[TF_CONFIG].content != before[TF_CONFIG].content


def test_the_shell_file_exports_exactly_the_tf_config(tmp_path: Path) -> None:
    the_cluster = tf.cluster()
    files = _files(the_cluster, tf.member(the_cluster, "worker", 2))
    env_file = tmp_path / "tf_config.sh"
    env_file.write_text(files["/etc/guestconfig/tensorflow/tf_config.sh"].content)

    exported = subprocess.run(
        ["sh", "-c", f'. "{env_file}" && printf %s "$TF_CONFIG"'],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    assert json.loads(exported) == json.loads(files[TF_CONFIG].content)


def test_the_restart_script_records_the_membership_under_the_guest_root(tmp_path: Path) -> None:
    the_cluster = tf.cluster()
    script = _files(the_cluster, tf.member(the_cluster, "worker", 0))[
        "/etc/guestconfig/tensorflow/restart-task"
    ]
    target = tmp_path / script.path.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_text(script.content)
    command = (
        "sh",
        "-c",
        'exec sh "${KD_GUEST_ROOT:-}/etc/guestconfig/tensorflow/restart-task" "$0"',
    )

    for _ in range(2):  # run twice: the same effect as once
        subprocess.run(
            [*command, "abc123"], check=True, env={**os.environ, "KD_GUEST_ROOT": str(tmp_path)}
        )

    marker = tmp_path / "var/run/kd-tensorflow/restart-requested"
    assert marker.read_text() == "abc123\n"
    assert script.mode == 0o755


def test_members_of_other_roles_get_no_tf_config() -> None:
    document = tf.wire()
    tf.add_role(document, "tensorboard", 1)
    the_cluster = tf.cluster(document)

    assert _files(the_cluster, tf.member(the_cluster, "tensorboard", 0)) == {}


def test_task_members_are_told_where_their_tf_config_is() -> None:
    chief = tf.statefulset(tf.app(), tf.cluster(), "chief")

    assert tf.env_of(chief)["TF_CONFIG_FILE"] == TF_CONFIG
