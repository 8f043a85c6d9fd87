"""The benchmark suite: what the operator costs over bare Kubernetes, measured side by side.

Run it with ``kubedirector bench`` (or ``python -m benchmarks`` from a checkout). It
starts its own local control plane, runs the operator as a subprocess, and writes
one JSON record per scenario (see :mod:`benchmarks.records`). Nothing here is
collected by the test suite; the pure parts are unit-tested in ``tests/unit/bench``.
"""
