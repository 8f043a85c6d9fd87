"""kd-spark: the kubedirector-core plugin for Spark apps.

The plugin itself is :mod:`kd_spark.plugin`, loaded through the ``kubedirector``
entry point named ``spark``.
"""

__version__ = "0.1.0"
