"""The benchmark suite (issue 7): `python3 -m tests.bench` (see tests/bench/__main__.py).

Not collected by the default test run: there are no test_*.py files here.
"""
