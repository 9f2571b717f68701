"""Prometheus metrics of one runtime, in a registry of its own (never the process-global one).

Gauges are read from the live state when scraped, so they cannot drift from it. Exec counts and
durations are plain integers and floats bumped on the exec path and turned into metric families
only when scraped: the exec path takes no lock and builds no label lookup.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from protocol import ErrorCode

PREFIX = "placeos_runtime"
#: Upper bounds (seconds) of the exec duration histogram's buckets.
EXEC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The `outcome` label of a successful exec; failures carry their error code's wire name.
SUCCESS = "success"
_REFUSED = ErrorCode.UNEXPECTED_FAILURE.wire_name


class ExecStats:
    """Exec outcomes and durations, counted without locks."""

    __slots__ = ("buckets", "outcomes", "succeeded", "total_seconds")

    def __init__(self) -> None:
        self.succeeded = 0
        self.outcomes: dict[str, int] = {code.wire_name: 0 for code in ErrorCode}
        self.buckets = [0] * (len(EXEC_BUCKETS) + 1)
        self.total_seconds = 0.0

    def success(self, seconds: float) -> None:
        """Count one exec answered with its result after `seconds`."""
        self.succeeded += 1
        self.buckets[bisect_left(EXEC_BUCKETS, seconds)] += 1
        self.total_seconds += seconds

    def failed(self, code: ErrorCode, seconds: float) -> None:
        """Count one exec answered with an error reply after `seconds`."""
        self.outcomes[code.wire_name] += 1
        self.buckets[bisect_left(EXEC_BUCKETS, seconds)] += 1
        self.total_seconds += seconds

    def refused(self) -> None:
        """Count one exec refused before it ran (a limit, or shutdown)."""
        self.outcomes[_REFUSED] += 1

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            f"{PREFIX}_execs", "Execs answered, by outcome", labels=["outcome"]
        )
        total.add_metric([SUCCESS], self.succeeded)
        for outcome, count in self.outcomes.items():
            total.add_metric([outcome], count)
        yield total
        cumulative, running = [], 0
        for bound, count in zip((*EXEC_BUCKETS, float("inf")), self.buckets, strict=True):
            running += count
            cumulative.append((_bound(bound), running))
        yield HistogramMetricFamily(
            f"{PREFIX}_exec_seconds",
            "Time from an exec's arrival to its reply",
            buckets=cumulative,
            sum_value=self.total_seconds,
        )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class _Live:
    """A collector reading gauges from callables at scrape time."""

    def __init__(self, read: Callable[[], Iterator[Metric]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        return self._read()


class RuntimeMetrics:
    """Every metric of one runtime. Fixed names are those of the HTTP interface."""

    def __init__(
        self,
        *,
        connections: Callable[[], int],
        bindings: Callable[[], int],
        debug_streams: Callable[[], int],
        execs_in_flight: Callable[[], int],
        pending_output: Callable[[], int],
        modules: Callable[[], dict[str, int]],
    ) -> None:
        self.registry = CollectorRegistry()
        self.execs = ExecStats()
        self._modules = modules
        registry = self.registry
        for name, doc, read in (
            ("connections", "Open WebSocket connections", connections),
            ("bindings", "Live bindings of all connections", bindings),
            ("debug_streams", "Live debug streams of all connections", debug_streams),
            ("execs_in_flight", "Execs running (closed connections' too)", execs_in_flight),
            ("pending_output_bytes", "Bytes queued for writing to all clients", pending_output),
        ):
            Gauge(f"{PREFIX}_{name}", doc, registry=registry).set_function(read)
        registry.register(_Live(self._collect_modules))
        registry.register(_Live(self.execs.collect))
        self.auth_failures = Counter(
            f"{PREFIX}_auth_failures",
            "Requests refused for missing or bad credentials",
            registry=registry,
        )
        self.slow_client_cutoffs = Counter(
            f"{PREFIX}_slow_client_cutoffs",
            "Connections closed because they did not read their output",
            registry=registry,
        )
        self.input_holds = Counter(
            f"{PREFIX}_input_holds",
            "Times a connection's requests waited because its replies were not yet written",
            registry=registry,
        )
        self.loop_blocked = Counter(
            f"{PREFIX}_loop_blocked", "Times the event loop was blocked", registry=registry
        )
        self.loop_blocked_seconds = Counter(
            f"{PREFIX}_loop_blocked_seconds",
            "Seconds the event loop spent blocked",
            registry=registry,
        )

    def auth_failed(self) -> None:
        """Count one request refused for its credentials."""
        self.auth_failures.inc()

    def _collect_modules(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(f"{PREFIX}_modules", "Modules by state", labels=["state"])
        for state, count in self._modules().items():
            family.add_metric([state], count)
        yield family

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: Any) -> float | None:
        """One sample's current value (for tests and the console)."""
        return self.registry.get_sample_value(name, labels or None)
