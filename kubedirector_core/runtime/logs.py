"""The operator's log lines: text for people, or one JSON object per line for collectors.

Every line logged while a cluster is reconciled carries that cluster: the
reconcile worker enters :func:`cluster_context`, a :class:`contextvars.ContextVar`,
and the threads a reconcile starts (in-container actions, plugin hooks under a
time limit) run in a copy of the worker's context. So the planner's, the
plugins' and the client's lines say which cluster they concern without
passing it around. kopf's own per-object lines carry the object kopf passes
in ``extra["k8s_ref"]``.

A JSON line has ``time`` (UTC, RFC 3339 with milliseconds), ``level``,
``logger``, ``message``, and where known ``namespace`` and ``cluster`` (or
``object`` for kopf's lines about a non-cluster object), plus ``exception``
with the traceback when one is logged. Nothing else from a record is copied:
the arguments of a call are only ever rendered into ``message`` by the code
that logs them, which never logs a Secret's data.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["json", "text"]
#: The values ``--log-format`` accepts.
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")

_cluster: ContextVar[tuple[str, str] | None] = ContextVar("kubedirector_cluster", default=None)


@contextmanager
def cluster_context(namespace: str, name: str) -> Iterator[None]:
    """Within this block (and contexts copied from it), log lines carry the cluster."""
    token = _cluster.set((namespace, name))
    try:
        yield
    finally:
        _cluster.reset(token)


def current_cluster() -> tuple[str, str] | None:
    """``(namespace, name)`` of the cluster being reconciled in this context, if any."""
    return _cluster.get()


def _about(record: logging.LogRecord) -> dict[str, str]:
    """What the record concerns: the cluster in context, else the object kopf names."""
    cluster = getattr(record, "kd_cluster", None)
    if cluster is not None:
        return {"namespace": cluster[0], "cluster": cluster[1]}
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, Mapping):
        about = {}
        if ref.get("namespace"):
            about["namespace"] = str(ref["namespace"])
        if ref.get("name"):
            kind = ref.get("kind")
            about["object"] = f"{kind}/{ref['name']}" if kind else str(ref["name"])
        return about
    return {}


class ClusterContextFilter(logging.Filter):
    """Stamps each record with the cluster of the emitting context (``record.kd_cluster``).

    Attached to the handler, so it runs in the thread that logs, where the
    context variable holds that thread's cluster.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; adds ``kd_cluster`` unless already set."""
        if getattr(record, "kd_cluster", None) is None:
            record.kd_cluster = _cluster.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record``; never raises for odd messages (they become strings)."""
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_about(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: [namespace/cluster] message`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The usual line, with the cluster or object it concerns before the message."""
        about = _about(record)
        where = about.get("cluster") or about.get("object")
        text = super().formatMessage(record)
        if where is None:
            return text
        prefix = f"{record.name}: "
        scope = f"[{about['namespace']}/{where}] " if "namespace" in about else f"[{where}] "
        return text.replace(prefix, prefix + scope, 1)


def configure_logging(log_format: LogFormat = "text", *, verbose: bool = False) -> None:
    """Send every log line to stderr in ``log_format``; kopf's below WARNING only if verbose.

    Replaces the root logger's handlers, so calling it twice does not double lines.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ClusterContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("kopf").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """An exception that ends a thread becomes a log line too, not bare text on stderr."""
    if args.exc_type is SystemExit:
        return
    logging.getLogger("kubedirector").error(
        "thread %s died",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )
