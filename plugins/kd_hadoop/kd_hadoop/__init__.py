"""kd-hadoop: the kubedirector-core plugin for Hadoop (HDFS and YARN) apps.

The plugin itself is :mod:`kd_hadoop.plugin`, loaded through the ``kubedirector``
entry point named ``hadoop``.
"""

__version__ = "0.1.0"
