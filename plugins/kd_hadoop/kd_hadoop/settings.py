"""Settings a cluster can tune: where they are read from, and their defaults.

A KubeDirectorCluster has no free-form configuration field, so settings come
from two places, the first that gives a value winning:

1. the cluster's annotation ``kd-hadoop/<name>`` (per cluster);
2. the app's ``spec.config.configMeta`` key ``<name>`` (per app type);
3. the default below.

``<name>`` is the Hadoop property name, e.g. ``dfs.replication``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubedirector_core import (
    KubeDirectorApp,
    KubeDirectorCluster,
    SettingError,
    find_setting,
    whole_number_setting,
)

#: Prefix of the cluster annotations this plugin reads.
ANNOTATION_PREFIX = "kd-hadoop/"

REPLICATION = "dfs.replication"
MIN_ALLOCATION_MB = "yarn.scheduler.minimum-allocation-mb"
MIN_ALLOCATION_VCORES = "yarn.scheduler.minimum-allocation-vcores"
CONF_DIR = "kd-hadoop.conf-dir"

#: Integer settings: name -> (default, least allowed value).
_INTEGERS: Mapping[str, tuple[int, int]] = {
    REPLICATION: (3, 1),
    MIN_ALLOCATION_MB: (1024, 128),
    MIN_ALLOCATION_VCORES: (1, 1),
}
DEFAULT_CONF_DIR = "/opt/hadoop/etc/hadoop"


@dataclass(frozen=True)
class HadoopSettings:
    """The tunable values of one cluster, already checked."""

    replication: int = _INTEGERS[REPLICATION][0]
    min_allocation_mb: int = _INTEGERS[MIN_ALLOCATION_MB][0]
    min_allocation_vcores: int = _INTEGERS[MIN_ALLOCATION_VCORES][0]
    conf_dir: str = DEFAULT_CONF_DIR

    @classmethod
    def of(cls, app: KubeDirectorApp, cluster: KubeDirectorCluster | None) -> HadoopSettings:
        """Read the settings of ``cluster`` (or of the app alone); raise :class:`SettingError`."""
        raw = {name: _lookup(app, cluster, name) for name in (*_INTEGERS, CONF_DIR)}
        integers = {name: _integer(name, raw[name]) for name in _INTEGERS}
        conf_dir = raw[CONF_DIR]
        if conf_dir is not None and not (conf_dir[1].startswith("/") and conf_dir[1] != "/"):
            raise SettingError(conf_dir[0], f"{CONF_DIR} must be an absolute directory")
        return cls(
            replication=integers[REPLICATION],
            min_allocation_mb=integers[MIN_ALLOCATION_MB],
            min_allocation_vcores=integers[MIN_ALLOCATION_VCORES],
            conf_dir=conf_dir[1].rstrip("/") if conf_dir else DEFAULT_CONF_DIR,
        )


def annotation_path(name: str) -> str:
    """The field path of a setting's cluster annotation."""
    return f"metadata.annotations.{ANNOTATION_PREFIX}{name}"


def _lookup(
    app: KubeDirectorApp, cluster: KubeDirectorCluster | None, name: str
) -> tuple[str, str] | None:
    """(field path, raw value) of the first source that sets ``name``, or None."""
    return find_setting(app, cluster, ANNOTATION_PREFIX, name)


def _integer(name: str, found: tuple[str, str] | None) -> int:
    default, least = _INTEGERS[name]
    value = whole_number_setting(found, name, least)
    return default if value is None else value
