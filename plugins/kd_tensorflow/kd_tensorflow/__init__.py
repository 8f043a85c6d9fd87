"""kd-tensorflow: the kubedirector-core plugin for TensorFlow apps.

The plugin itself is :mod:`kd_tensorflow.plugin`, loaded through the ``kubedirector``
entry point named ``tensorflow``.
"""

__version__ = "0.1.0"
