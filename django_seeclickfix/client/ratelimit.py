"""The request budget shared by every thread, process and host.

SeeClickFix allows ``RATE_LIMIT_REQUESTS`` (20) requests per ``RATE_LIMIT_PERIOD`` (60 s) and its
window is not aligned with ours, so the guarantee we need is: **no window of that length, wherever
it starts, holds more than N of our requests** (as the server sees them arrive).

How: tickets. Every request takes the next ticket number ``k`` from a shared counter, and may only
be sent once ticket ``k - N`` has *finished* (response received) at least ``period`` seconds ago.
Among any N+1 requests, two tickets are congruent modulo N, and along that chain each send
starts at least ``period`` after the previous one finished; the previous one arrived at the server
before it finished, so the two arrivals are at least ``period`` apart and cannot share a window.
Using the finish time (not the send time) makes this hold whatever the network latency.

Only atomic cache operations are used: ``add`` to claim a ticket (the counter's ``incr`` is just a
hint, so a cache whose ``incr`` is not atomic, such as the database cache, still never hands the
same ticket to two requests), ``set`` by the ticket's single owner, and reads. That works on Redis,
Memcached and the database cache. A steady stream of work reaches ``period / (period + latency)``
of the limit, well above 95 % for any real period.

Tickets that are given up (the wait would exceed ``max_wait``) are marked as skipped and pass their
own constraint on to the next ticket of the chain. A claimed ticket carries a lease of ``lease``
seconds that its process renews every third of that while it waits or sends (one heartbeat
thread per budget); a ticket of a crashed process counts as finished once its lease has run out,
so a process killed outright holds its share of the budget for at most ``lease`` seconds (15 by
default, ``RATE_LIMIT_LEASE``). Without a lease, a ticket counts as finished once its owner could
not possibly still be sending (``max_wait + hold_timeout`` after its claim). A 429 (or the abuse
403) pauses the whole budget until its ``Retry-After``: nobody sends anything during the pause.

If the cache loses its data (a Redis restart), the history is gone and up to N requests may go at
once; SeeClickFix's 429 then pauses everyone. Hosts must keep their clocks in sync (NTP): the
records are wall-clock times; ``margin`` adds slack for skew.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, Protocol

from django.core.cache import caches

from ..conf import app_settings
from ..exceptions import RateLimited, SiteCacheUnavailable, TransientError

logger = logging.getLogger("django_seeclickfix.client.ratelimit")

# Ticket records. A tuple keeps each one a single cache value written by a single owner.
CLAIMED = "c"  # ("c", latest possible finish): claimed, waiting or in flight
DONE = "d"  # ("d", finish time)
SKIPPED = "x"  # ("x", ticket it inherits its constraint from, 0 for none)
VOID = "v"  # ("v",): found missing and voided so a late claimer cannot use it

_FREE = 0
_MISSING_RUN_IS_OLD = 2  # two missing generations in a row: history expired, not a race


class BudgetStore(Protocol):
    """The four operations the budget needs. Django's cache has them all."""

    def add(self, key: str, value: Any, timeout: float | None) -> bool: ...

    def set(self, key: str, value: Any, timeout: float | None) -> None: ...

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]: ...

    def incr(self, key: str) -> int: ...


class DjangoCacheStore:
    """A budget store over one of Django's cache aliases (``RATE_LIMIT_CACHE``)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def cache(self) -> Any:
        return caches[self.alias]

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        return bool(self.cache.add(key, value, timeout))

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        self.cache.set(key, value, timeout)

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        return dict(self.cache.get_many(list(keys)))

    def incr(self, key: str) -> int:
        cache = self.cache
        try:
            return int(cache.incr(key))
        except ValueError:
            # First use (or the cache lost it): create, then increment. ``add`` loses races
            # harmlessly; the counter is only a hint for which ticket to try first.
            cache.add(key, 0, None)
            return int(cache.incr(key))

    def __repr__(self) -> str:
        return f"DjangoCacheStore({self.alias!r})"


class MemoryStore:
    """A process-local store for scripts that run without Django settings, and for tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, key: str) -> bool:
        item = self._data.get(key)
        if item is None:
            return False
        expires = item[1]
        if expires is not None and expires <= self._clock():
            del self._data[key]
            return False
        return True

    def _expiry(self, timeout: float | None) -> float | None:
        return None if timeout is None else self._clock() + timeout

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        with self._lock:
            if self._live(key):
                return False
            self._data[key] = (value, self._expiry(timeout))
            return True

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        with self._lock:
            self._data[key] = (value, self._expiry(timeout))

    def get_many(self, keys: Iterable[str]) -> Mapping[str, Any]:
        with self._lock:
            return {key: self._data[key][0] for key in keys if self._live(key)}

    def incr(self, key: str) -> int:
        with self._lock:
            current = self._data[key][0] if self._live(key) else 0
            self._data[key] = (int(current) + 1, None)
            return int(current) + 1


@dataclass
class BudgetStats:
    """Counters of this process's use of the budget (for benchmarks and monitoring)."""

    acquired: int = 0
    rejected: int = 0
    pauses: int = 0
    waited_seconds: float = 0.0
    longest_wait: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_acquired(self, waited: float) -> None:
        with self.lock:
            self.acquired += 1
            self.waited_seconds += waited
            self.longest_wait = max(self.longest_wait, waited)

    def record_rejected(self) -> None:
        with self.lock:
            self.rejected += 1

    def record_pause(self) -> None:
        with self.lock:
            self.pauses += 1

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return {
                "acquired": self.acquired,
                "rejected": self.rejected,
                "pauses": self.pauses,
                "waited_seconds": self.waited_seconds,
                "longest_wait": self.longest_wait,
            }


class Reservation:
    """One unit of budget: hold it while the request is on the wire, then release it."""

    def __init__(self, budget: RateBudget, scope: str, ticket: int) -> None:
        self.budget = budget
        self.scope = scope
        self.ticket = ticket
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self.budget._release(self.scope, self.ticket)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class RateBudget:
    """At most ``requests`` requests in any sliding window of ``period`` seconds, per scope.

    ``hold_timeout`` is the longest a request may keep its reservation (the request deadline);
    a ticket whose owner died is treated as finished ``max_wait + hold_timeout`` after its claim.
    """

    def __init__(
        self,
        requests: int,
        period: float,
        *,
        store: BudgetStore,
        max_wait: float = 30.0,
        hold_timeout: float = 60.0,
        retry_after_default: float = 60.0,
        margin: float = 0.0,
        key_prefix: str = "scf:budget",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lease: float | None = None,
        heartbeat: bool = True,
    ) -> None:
        if requests < 1 or period <= 0:
            raise ValueError("A budget needs requests >= 1 and period > 0.")
        self.requests = int(requests)
        self.period = float(period)
        self.store = store
        self.max_wait = float(max_wait)
        self.hold_timeout = float(hold_timeout)
        self.retry_after_default = float(retry_after_default)
        self.margin = float(margin)
        self.key_prefix = key_prefix
        self.clock = clock
        self.sleep = sleep
        self.lease = float(lease) if lease else None
        self.stats = BudgetStats()
        # Tickets this process holds (claimed, waiting or sending), renewed by the heartbeat.
        self._held: set[tuple[str, int]] = set()
        self._held_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._run_heartbeat = heartbeat and self.lease is not None
        # Records outlive every use: a ticket matters until the one N later has been resolved.
        self._record_ttl = max(3600.0, 4 * (self.period + self.max_wait + self.hold_timeout))
        self._poll = min(0.05, max(0.002, self.period / self.requests / 10))

    @classmethod
    def from_settings(cls, **overrides: Any) -> RateBudget:
        """The budget described by ``SEECLICKFIX`` (rate, period, wait, cache alias)."""
        overrides.setdefault("store", DjangoCacheStore(app_settings.RATE_LIMIT_CACHE))
        return cls.from_values(partial(getattr, app_settings), **overrides)

    @classmethod
    def from_values(cls, setting: Callable[[str], Any], **overrides: Any) -> RateBudget:
        """The budget described by the ``SEECLICKFIX`` values ``setting(name)`` reads (the
        configured ones, or the documented defaults without Django); ``store`` is required."""
        options: dict[str, Any] = {
            "max_wait": setting("RATE_LIMIT_MAX_WAIT"),
            "lease": setting("RATE_LIMIT_LEASE"),
            "hold_timeout": setting("REQUEST_DEADLINE") + setting("READ_TIMEOUT"),
            "retry_after_default": setting("RETRY_AFTER_DEFAULT"),
            **overrides,
        }
        return cls(setting("RATE_LIMIT_REQUESTS"), setting("RATE_LIMIT_PERIOD"), **options)

    def __repr__(self) -> str:
        return (
            f"RateBudget({self.requests} per {self.period:g}s, max_wait={self.max_wait:g}s, "
            f"store={self.store!r})"
        )

    # keys --------------------------------------------------------------------------------------

    def _key(self, scope: str, name: str) -> str:
        return f"{self.key_prefix}:{scope}:{name}"

    def _ticket_key(self, scope: str, ticket: int) -> str:
        return self._key(scope, f"t{ticket}")

    # store access: a broken cache must not let requests through unmetered ----------------------

    def _store(self, operation: str, *args: Any) -> Any:
        try:
            return getattr(self.store, operation)(*args)
        except Exception as err:
            raise SiteCacheUnavailable(
                f"The rate budget's cache is unavailable ({type(err).__name__}); no request was "
                "sent. Check the cache in SEECLICKFIX['RATE_LIMIT_CACHE'].",
                alias=getattr(self.store, "alias", None),
            ) from err

    # public ------------------------------------------------------------------------------------

    def paused_for(self, scope: str = "global") -> float:
        """Seconds left in the current pause (0 when not paused)."""
        return max(0.0, self._pause_until(scope) - self.clock())

    def pause(self, seconds: float, scope: str = "global") -> None:
        """Stop every sender of this scope for ``seconds`` (after a 429 or an abuse block)."""
        seconds = max(0.0, float(seconds))
        until = self.clock() + seconds
        key = self._key(scope, "pause")
        current = self._store("get_many", [key]).get(key)
        # A longer pause set by someone else wins; a lost race only shortens to a fresh value.
        if isinstance(current, int | float) and current >= until:
            return
        self._store("set", key, until, seconds + 1)
        self.stats.record_pause()
        logger.warning("SeeClickFix rate budget %r paused for %.1f s", scope, seconds)

    def reserve(self, scope: str = "global") -> Reservation:
        """Wait for one unit of budget (at most ``max_wait``), or raise ``RateLimited``."""
        started = self.clock()
        deadline = started + self.max_wait
        pause_left = self.paused_for(scope)
        if pause_left > self.max_wait:
            # Don't even take a ticket: the answer is known.
            raise self._reject(scope, pause_left)
        ticket = self._claim(scope, started)
        inherited = _FREE
        try:
            while True:
                now = self.clock()
                state, value, inherited = self._resolve(scope, ticket, now)
                pause_until = self._pause_until(scope)
                if state == DONE:
                    go = max(value + self.period + self.margin, pause_until)
                elif state == CLAIMED:
                    # Its finish is still ahead, so ours is at least a full period away.
                    go = max(now + self.period, pause_until)
                else:
                    go = max(now, pause_until)
                if go <= now and state != CLAIMED:
                    self.stats.record_acquired(now - started)
                    return Reservation(self, scope, ticket)
                if go > deadline:
                    self._skip(scope, ticket, inherited)
                    raise self._reject(scope, go - now)
                self.sleep(min(go - now, self._poll) if state == CLAIMED else go - now)
        except RateLimited:
            raise
        except BaseException:
            self._skip(scope, ticket, inherited)
            raise

    # internals ---------------------------------------------------------------------------------

    def _reject(self, scope: str, retry_after: float) -> RateLimited:
        self.stats.record_rejected()
        return RateLimited(
            f"SeeClickFix's request budget is used up; try again in {retry_after:.1f} s.",
            retry_after=retry_after,
        )

    def _pause_until(self, scope: str) -> float:
        key = self._key(scope, "pause")
        until = self._store("get_many", [key]).get(key)
        return float(until) if isinstance(until, int | float) else 0.0

    def _claimed(self, now: float) -> tuple[str, float]:
        """The record of a claimed ticket: until when its owner may still be sending."""
        if self.lease is not None:
            return (CLAIMED, now + self.lease)
        return (CLAIMED, now + self.max_wait + self.hold_timeout)

    def _claim(self, scope: str, now: float) -> int:
        record = self._claimed(now)
        while True:
            ticket = int(self._store("incr", self._key(scope, "counter")))
            with self._held_lock:
                claimed = self._store(
                    "add", self._ticket_key(scope, ticket), record, self._record_ttl
                )
                if claimed and self.lease is not None:
                    self._held.add((scope, ticket))
                    self._start_heartbeat()
            if claimed:
                return ticket
            # Taken (a non-atomic incr handed it out twice) or voided: try the next one.

    def renew(self) -> int:
        """Renew the lease of every ticket this process holds; returns how many. The heartbeat
        thread calls it every ``lease / 3`` seconds."""
        with self._held_lock:
            record = self._claimed(self.clock())
            for scope, ticket in self._held:
                try:
                    self._store("set", self._ticket_key(scope, ticket), record, self._record_ttl)
                except TransientError:
                    logger.warning("Could not renew budget ticket %s", ticket, exc_info=True)
            return len(self._held)

    def _start_heartbeat(self) -> None:
        # Called with _held_lock held. One daemon thread per budget while it holds tickets (a
        # forked worker process starts its own: threads do not survive a fork).
        if not self._run_heartbeat or (self._heartbeat and self._heartbeat.is_alive()):
            return
        self._heartbeat = threading.Thread(
            target=self._beat, name="scf-budget-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _beat(self) -> None:
        assert self.lease is not None
        while True:
            time.sleep(self.lease / 3)
            with self._held_lock:
                if not self._held:
                    self._heartbeat = None
                    return
            self.renew()

    def _forget(self, scope: str, ticket: int, record: tuple[Any, ...]) -> None:
        """Write the ticket's final record; renewals stop first, so none can overwrite it."""
        with self._held_lock:
            self._held.discard((scope, ticket))
            self._store("set", self._ticket_key(scope, ticket), record, self._record_ttl)

    def _skip(self, scope: str, ticket: int, inherited: int) -> None:
        try:
            self._forget(scope, ticket, (SKIPPED, inherited))
        except TransientError:
            logger.warning("Could not mark budget ticket %s as skipped", ticket, exc_info=True)

    def _release(self, scope: str, ticket: int) -> None:
        now = self.clock()
        try:
            self._forget(scope, ticket, (DONE, now))
        except TransientError:
            # The request already happened; its ticket will count as finished once stale.
            logger.warning("Could not release budget ticket %s", ticket, exc_info=True)

    def _resolve(self, scope: str, ticket: int, now: float) -> tuple[str, float, int]:
        """What ticket ``ticket - N``'s chain says: (state, time, ticket it resolved to).

        ``DONE`` with its finish time, ``CLAIMED`` while it may still be sending, or ``VOID``
        (meaning: no constraint).
        """
        current = ticket - self.requests
        missing_run = 0
        while current > 0:
            key = self._ticket_key(scope, current)
            record = self._store("get_many", [key]).get(key)
            if record is None:
                if not self._store("add", key, (VOID,), self._record_ttl):
                    continue  # its owner wrote it just now: read it again
                missing_run += 1
                if missing_run >= _MISSING_RUN_IS_OLD:
                    return VOID, 0.0, _FREE
                current -= self.requests
                continue
            missing_run = 0
            kind = record[0] if isinstance(record, tuple) and record else VOID
            if kind == DONE:
                return DONE, float(record[1]), current
            if kind == CLAIMED:
                latest = float(record[1])
                if now > latest:
                    return DONE, latest, current  # its owner is gone; it cannot still be sending
                return CLAIMED, latest, current
            if kind == SKIPPED:
                target = int(record[1])
                if target == _FREE:
                    return VOID, 0.0, _FREE
                current = target
                continue
            current -= self.requests  # VOID: never sent, inherit from the chain
        return VOID, 0.0, _FREE


class Unlimited:
    """A budget that never waits (benchmarks of the client itself, one-off scripts)."""

    stats: BudgetStats

    def __init__(self) -> None:
        self.stats = BudgetStats()

    def reserve(self, scope: str = "global") -> Reservation:
        self.stats.record_acquired(0.0)
        return _NullReservation()

    def pause(self, seconds: float, scope: str = "global") -> None:
        self.stats.record_pause()

    def paused_for(self, scope: str = "global") -> float:
        return 0.0

    def __repr__(self) -> str:
        return "Unlimited()"


class _NullReservation(Reservation):
    def __init__(self) -> None:
        self._released = True


class Budget(Protocol):
    """What the HTTP session needs from a budget."""

    stats: BudgetStats

    def reserve(self, scope: str = "global") -> Reservation: ...

    def pause(self, seconds: float, scope: str = "global") -> None: ...

    def paused_for(self, scope: str = "global") -> float: ...
