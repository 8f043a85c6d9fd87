"""Test kit for kubedirector-core and for third-party plugin authors.

Install with the ``testing`` extra. The pytest plugin
(:mod:`kubedirector_core.testing.pytest_plugin`) is registered through the
``pytest11`` entry point and only adds fixtures and markers: nothing runs
unless a test asks for it.
"""
