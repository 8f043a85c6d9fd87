"""kubedirector-core: the public API.

Everything a plugin author or an integrator may rely on is re-exported here
and listed in ``__all__``; anything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
