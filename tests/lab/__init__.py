"""The anycast lab: the seed's topology on one machine (see tests/lab/lab.py)."""

from tests.lab.lab import Lab, LabNode, QueryStream, Router, missing_requirements, summarize
from tests.lab.system import LabError, wait_for

__all__ = ["Lab", "LabError", "LabNode", "QueryStream", "Router", "missing_requirements",
           "summarize", "wait_for"]
