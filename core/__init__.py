"""Kefu Assist core: everything that is not the Qt user interface.

This package never imports Qt; the CLI, the tests and (later) a local API use
it headless.  ``tests/core/test_no_qt.py`` proves it.
"""

__version__ = "0.1.0"
