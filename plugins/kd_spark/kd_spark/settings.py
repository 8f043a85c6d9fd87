"""Settings a cluster can tune: where they are read from, and their defaults.

A KubeDirectorCluster has no free-form configuration field, so settings come
from, the first that gives a value winning:

1. the cluster's annotation ``kd-spark/<name>`` (per cluster);
2. the app's ``spec.config.configMeta`` key ``<name>`` (per app type);
3. the default below.

``<name>`` is the Spark property name, e.g. ``spark.executor.memory``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubedirector_core import (
    KubeDirectorApp,
    KubeDirectorCluster,
    SettingError,
    find_setting,
    whole_number_setting,
)

#: Prefix of the cluster annotations this plugin reads.
ANNOTATION_PREFIX = "kd-spark/"

EXECUTOR_MEMORY = "spark.executor.memory"
EXECUTOR_CORES = "spark.executor.cores"
EXECUTOR_GPUS = "spark.executor.resource.gpu.amount"
CORES_MAX = "spark.cores.max"
EVENT_LOG_DIR = "spark.eventLog.dir"
CONF_DIR = "kd-spark.conf-dir"

DEFAULT_EVENT_LOG_DIR = "file:///data/spark-events"
DEFAULT_CONF_DIR = "/opt/spark/conf"

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_MIB_PER_UNIT = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 * 1024}


def spark_size_mb(text: str) -> int:
    """A Spark memory size ("2g", "512m", "1024" in MiB) in MiB; raises ValueError."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Spark size such as 2g or 512m")
    return int(int(match.group(1)) * _MIB_PER_UNIT[match.group(2).lower()])


@dataclass(frozen=True)
class SparkSettings:
    """The tunable values of one cluster, already checked."""

    executor_memory: str = "1g"
    executor_cores: int = 1
    executor_gpus: int | None = None
    cores_max: int | None = None
    event_log_dir: str = DEFAULT_EVENT_LOG_DIR
    conf_dir: str = DEFAULT_CONF_DIR

    @property
    def executor_memory_mb(self) -> int:
        """``spark.executor.memory`` in MiB."""
        return spark_size_mb(self.executor_memory)

    @classmethod
    def of(cls, app: KubeDirectorApp, cluster: KubeDirectorCluster | None) -> SparkSettings:
        """Read the settings of ``cluster`` (or of the app alone); raise :class:`SettingError`."""
        memory = _lookup(app, cluster, EXECUTOR_MEMORY)
        if memory is not None:
            try:
                spark_size_mb(memory[1])
            except ValueError as error:
                raise SettingError(memory[0], f"{EXECUTOR_MEMORY}: {error}") from None
        conf_dir = _lookup(app, cluster, CONF_DIR)
        if conf_dir is not None and not conf_dir[1].startswith("/"):
            raise SettingError(conf_dir[0], f"{CONF_DIR} must be an absolute directory")
        log_dir = _lookup(app, cluster, EVENT_LOG_DIR)
        return cls(
            executor_memory=memory[1].strip() if memory else "1g",
            executor_cores=_integer(_lookup(app, cluster, EXECUTOR_CORES), EXECUTOR_CORES) or 1,
            executor_gpus=_integer(_lookup(app, cluster, EXECUTOR_GPUS), EXECUTOR_GPUS),
            cores_max=_integer(_lookup(app, cluster, CORES_MAX), CORES_MAX),
            event_log_dir=log_dir[1].strip() if log_dir else DEFAULT_EVENT_LOG_DIR,
            conf_dir=conf_dir[1].rstrip("/") if conf_dir else DEFAULT_CONF_DIR,
        )


def _lookup(
    app: KubeDirectorApp, cluster: KubeDirectorCluster | None, name: str
) -> tuple[str, str] | None:
    """(field path, raw value) of the first source that sets ``name``, or None."""
    return find_setting(app, cluster, ANNOTATION_PREFIX, name)


def _integer(found: tuple[str, str] | None, name: str) -> int | None:
    return whole_number_setting(found, name)
