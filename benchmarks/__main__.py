"""``python -m benchmarks``: the same command as ``kubedirector bench``."""

from kubedirector_core.cli.bench import bench

if __name__ == "__main__":
    bench(prog_name="python -m benchmarks")
