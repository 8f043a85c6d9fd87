"""Lease-based leader election: of several operator replicas, exactly one acts.

The replicas compete for one ``coordination.k8s.io/v1`` Lease. The holder
renews it every :attr:`ElectionTiming.retry_period`; the others read it at the
same pace and take it over only once it has gone unrenewed for
:attr:`ElectionTiming.lease_duration` *by their own clock* (they time how long
the record they last saw has stayed unchanged, as client-go does, so clock
skew between machines does not matter). Every write carries the
``resourceVersion`` it was based on, so two candidates racing for an expired
Lease cannot both win: the API server refuses the second with 409 Conflict.

What makes "never two leaders" hold:

* a standby starts nothing that writes or reconciles: the operator is
  started only after :meth:`LeaderElector.acquire` returns;
* a leader that has not renewed for :attr:`ElectionTiming.renew_deadline`
  (10 s, shorter than the 15 s a standby waits) stops acting at once: the
  :class:`LeaderElector` calls its ``on_lost`` callback, which exits the
  process. The deadline is watched by a thread of its own, so a blocked event
  loop cannot keep a stale leader acting;
* on a graceful stop the leader releases the Lease (empty holder, duration
  1 s) as its very last step, so a standby takes over within one retry period
  instead of a full lease duration.

After the leader dies without releasing, a standby holds the Lease at most
``lease_duration + retry_period`` (17 s with the defaults, plus the time of
one request) after the leader's last renewal.

Why not the client's ``kubernetes.leaderelection``: it blocks a thread in a
loop of its own, works through the typed models of one client version, has
no release on stop, and reports loss through a callback that runs in that
thread. The operator lives on asyncio and needs release-on-SIGTERM and a
loss deadline it controls, so this is a small asyncio loop doing the same
three requests (GET, POST, PUT) through :class:`~.kubeapi.KubeApi` in worker
threads, each bounded by the time it may still take.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from kubedirector_core.runtime.kubeapi import ApiError, KubeApi

log = logging.getLogger(__name__)

#: The Lease's default name (``--leader-election-id``).
DEFAULT_LEASE_NAME = "kubedirector-operator"
#: The Lease's namespace when neither ``--leader-election-namespace`` nor $POD_NAMESPACE says.
DEFAULT_LEASE_NAMESPACE = "kubedirector"


@dataclass(frozen=True)
class ElectionTiming:
    """How long a Lease lasts and how often it is renewed (client-go's defaults)."""

    #: A standby takes over a Lease left unrenewed this long (seconds).
    lease_duration: float = 15.0
    #: A leader that could not renew for this long stops acting; < ``lease_duration``.
    renew_deadline: float = 10.0
    #: Every candidate tries to acquire or renew this often.
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election timing: need 0 < retry_period < renew_deadline < "
                f"lease_duration, got {self.retry_period}, {self.renew_deadline}, "
                f"{self.lease_duration}"
            )


@dataclass(frozen=True)
class ElectionOptions:
    """Which Lease to compete for, and as whom."""

    namespace: str
    name: str = DEFAULT_LEASE_NAME
    identity: str = ""
    timing: ElectionTiming = ElectionTiming()

    def __post_init__(self) -> None:
        if not self.identity:
            object.__setattr__(self, "identity", default_identity())


def default_namespace() -> str:
    """$POD_NAMESPACE (set by the Deployment from the downward API), else ``kubedirector``."""
    return os.environ.get("POD_NAMESPACE") or DEFAULT_LEASE_NAMESPACE


def default_identity() -> str:
    """$POD_NAME, else ``hostname_pid_random``: unique per process even on one machine."""
    pod = os.environ.get("POD_NAME")
    if pod:
        return pod
    return f"{socket.gethostname()}_{os.getpid()}_{secrets.token_hex(3)}"


def _micro_time(moment: datetime) -> str:
    """A ``MicroTime`` as the API server expects it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a Lease's spec that decide who leads."""

    holder: str
    duration_seconds: int
    renew_time: str
    transitions: int

    @classmethod
    def of(cls, lease: dict[str, Any]) -> LeaseRecord:
        """Read the record of a Lease as the API server returned it."""
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            renew_time=spec.get("renewTime") or "",
            transitions=int(spec.get("leaseTransitions") or 0),
        )


class LeaderElector:
    """Competes for one Lease; see the module's docstring for the guarantees.

    ``clock`` (monotonic seconds) and ``now`` (wall time for the Lease's
    timestamps) are injectable for tests.
    """

    def __init__(
        self,
        api: KubeApi,
        options: ElectionOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.options = options
        self.timing = options.timing
        self._clock = clock
        self._now = now
        self._path = (
            f"/apis/coordination.k8s.io/v1/namespaces/{options.namespace}/leases/{options.name}"
        )
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        #: Monotonic time of the last successful acquire or renew (0: not leading).
        self.renewed_at = 0.0
        #: True once the Lease could be read or written (the API answers about it).
        self.reachable = False
        self._leading = False
        self._stopped = threading.Event()
        self._losing = threading.Lock()

    @property
    def identity(self) -> str:
        """Who this candidate says it is in ``holderIdentity``."""
        return self.options.identity

    @property
    def is_leader(self) -> bool:
        """True from a successful acquire until loss or release."""
        return self._leading

    # -- one attempt ----------------------------------------------------------

    def _request(self, method: str, path: str, body: object = None) -> Any:
        return self.api.request(method, path, body=body, retry_conflicts=False)

    def _lease_body(self, current: dict[str, Any] | None, *, release: bool = False) -> Any:
        moment = _micro_time(self._now())
        old = LeaseRecord.of(current) if current else None
        taking_over = old is None or old.holder != self.identity
        spec = dict((current or {}).get("spec") or {})
        spec.update(
            holderIdentity=None if release else self.identity,
            leaseDurationSeconds=1 if release else round(self.timing.lease_duration),
            renewTime=moment,
        )
        if taking_over and not release:
            spec["acquireTime"] = moment
            spec["leaseTransitions"] = old.transitions + 1 if old else 0
        metadata: dict[str, Any] = {"name": self.options.name, "namespace": self.options.namespace}
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    def _read(self) -> dict[str, Any] | None:
        try:
            lease: dict[str, Any] = self._request("GET", self._path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return lease

    def try_acquire_or_renew(self) -> bool:
        """One attempt (blocking): True when this candidate holds the Lease afterwards.

        Raises :class:`ApiError` when the API server could not be asked.
        """
        current = self._read()
        self.reachable = True
        if current is None:
            collection = self._path.rsplit("/", 1)[0]
            try:
                self._request("POST", collection, self._lease_body(None))
            except ApiError as error:
                if error.status == 409:  # another candidate created it first
                    return False
                raise
            return True
        record = LeaseRecord.of(current)
        now = self._clock()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        held_by_other = record.holder not in ("", self.identity)
        if held_by_other and now < self._observed_at + record.duration_seconds:
            return False
        try:
            self._request("PUT", self._path, self._lease_body(current))
        except ApiError as error:
            if error.status == 409:  # someone else wrote it since we read it
                return False
            raise
        return True

    def release(self) -> bool:
        """Give the Lease up (blocking) if this candidate holds it; True when released.

        A renewal still in flight may change the Lease meanwhile: on 409 Conflict
        the release is tried again with the newer version.
        """
        self._leading = False
        self._stopped.set()
        for _ in range(3):
            try:
                current = self._read()
                if current is None or LeaseRecord.of(current).holder != self.identity:
                    return False
                self._request("PUT", self._path, self._lease_body(current, release=True))
            except ApiError as error:
                if error.status == 409:
                    continue
                log.warning("could not release the leader Lease %s: %s", self.options.name, error)
                return False
            log.info("released the leader Lease %s/%s", self.options.namespace, self.options.name)
            return True
        return False

    # -- the loops ------------------------------------------------------------

    async def _attempt(self, limit: float) -> bool:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.try_acquire_or_renew), limit)
        except (ApiError, TimeoutError) as error:
            log.warning("leader election: the Lease could not be read or written: %s", error)
            return False

    async def acquire(self) -> None:
        """Wait until this candidate holds the Lease (a standby waits here, doing nothing)."""
        log.info(
            "waiting to lead: Lease %s/%s, identity %s",
            self.options.namespace,
            self.options.name,
            self.identity,
        )
        while not await self._attempt(self.timing.renew_deadline):
            await asyncio.sleep(self.timing.retry_period)
        self.renewed_at = self._clock()
        self._leading = True
        log.info(
            "became the leader: Lease %s/%s, identity %s",
            self.options.namespace,
            self.options.name,
            self.identity,
        )

    async def hold(self, on_lost: Callable[[str], None]) -> None:
        """Renew every retry period; call ``on_lost`` once the renew deadline has passed.

        The deadline is also watched from a thread (see :meth:`watch_deadline`),
        which calls ``on_lost`` even while the event loop is blocked.
        """
        watchdog = threading.Thread(
            target=self.watch_deadline, args=(on_lost,), name="kd-lease-deadline", daemon=True
        )
        watchdog.start()
        while self._leading:
            await asyncio.sleep(self.timing.retry_period)
            if not self._leading:
                return
            left = self.renewed_at + self.timing.renew_deadline - self._clock()
            if left > 0 and await self._attempt(left):
                self.renewed_at = self._clock()
                continue
            if self._clock() - self.renewed_at >= self.timing.renew_deadline:
                self._lose(on_lost)
                return

    def watch_deadline(self, on_lost: Callable[[str], None], interval: float = 0.25) -> None:
        """Block until released, calling ``on_lost`` if a renewal is overdue (thread body)."""
        while not self._stopped.wait(interval):
            if self._leading and self._clock() - self.renewed_at >= self.timing.renew_deadline:
                self._lose(on_lost)
                return

    def _lose(self, on_lost: Callable[[str], None]) -> None:
        with self._losing:  # the loop and the watchdog may both notice
            if not self._leading:
                return
            self._leading = False
            self._stopped.set()
        on_lost(
            f"lost the leader Lease {self.options.namespace}/{self.options.name}: not renewed "
            f"for {self.timing.renew_deadline:g} s (another replica may take over); stopping"
        )


def stop_process(reason: str) -> NoReturn:
    """Log ``reason`` and end the process at once (``on_lost`` of a running operator).

    ``os._exit``: no cleanup that could still write runs, not even in other
    threads; the Deployment starts the container again, as a standby.
    """
    log.critical("%s", reason)
    logging.shutdown()
    os._exit(1)
