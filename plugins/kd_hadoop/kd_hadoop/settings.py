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

from kubedirector_core import KubeDirectorApp, KubeDirectorCluster, Problem

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


class SettingError(ValueError):
    """A setting has a value the plugin cannot use; carries where it was read."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def as_problem(self) -> Problem:
        """The error as a validation problem at the setting's field path."""
        return Problem(self.path, self.message)


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
    annotations = (cluster.metadata.annotations or {}) if cluster else {}
    if ANNOTATION_PREFIX + name in annotations:
        return annotation_path(name), annotations[ANNOTATION_PREFIX + name]
    config_meta = app.spec.config.config_meta or {}
    if name in config_meta:
        return f"spec.config.configMeta.{name}", config_meta[name]
    return None


def _integer(name: str, found: tuple[str, str] | None) -> int:
    default, least = _INTEGERS[name]
    if found is None:
        return default
    path, text = found
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingError(path, f"{name} must be a whole number, not {text!r}") from None
    if value < least:
        raise SettingError(path, f"{name} must be at least {least}, not {value}")
    return value
