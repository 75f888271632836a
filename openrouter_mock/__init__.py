"""A local OpenRouter stand-in (like stripe-mock) for tests and benchmarks."""

from .faults import FAULTS
from .server import MockOpenRouter

__all__ = ["FAULTS", "MockOpenRouter"]
