"""Prometheus metrics (prometheus-client; multiprocess mode under gunicorn, see gunicorn.conf.py)."""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter(
    "gateway_requests_total", "Requests answered, by route, method and status", ["route", "method", "status"]
)
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Time from request to response closed (streams: to the end)",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
RATE_LIMITED = Counter("gateway_rate_limited_total", "Requests answered 429 by the gateway or OpenRouter", ["route"])
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_duration_seconds",
    "Time waiting for OpenRouter's answer (headers)",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors_total", "OpenRouter failures, by HTTP status or 'connection'", ["endpoint", "status"]
)
FIRST_CHUNK = Histogram(
    "gateway_stream_first_chunk_seconds", "Time from request to the first streamed bytes", buckets=LATENCY_BUCKETS
)
STREAMS = Gauge("gateway_streams_in_flight", "Streams being relayed now", multiprocess_mode="livesum")
TOKENS = Counter("gateway_tokens_total", "Tokens reported by OpenRouter, by model and kind", ["model", "kind"])
COST = Counter("gateway_cost_usd_total", "Cost reported by OpenRouter (USD), by model", ["model"])


def exposition():
    """The metrics text of every worker (multiprocess) or of this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


_children = {}


def observe_request(route, method, status, seconds):
    """Count one answered request (the labelled children are looked up once per route, method and status)."""
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            REQUESTS.labels(route, method, str(status)),
            LATENCY.labels(route),
            RATE_LIMITED.labels(route) if status == 429 else None,
        )
    requests, latency, rate_limited = children
    requests.inc()
    latency.observe(seconds)
    if rate_limited is not None:
        rate_limited.inc()


def observe_usage(model, amounts):
    """Tokens and cost of one call."""
    model = model or "unknown"
    TOKENS.labels(model, "prompt").inc(amounts["prompt_tokens"])
    TOKENS.labels(model, "completion").inc(amounts["completion_tokens"])
    COST.labels(model).inc(amounts["cost"])
