"""The hadoop plugin: the Hadoop (HDFS and YARN) app types it handles.

For now it only claims its app types; its behaviour comes in later releases.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubedirector_core import hookimpl

#: Patterns matched against an app's distroID and name (see ``kd_claims``).
CLAIMS = ("*/cdh*", "*/hadoop*", "*/hdp*")


@hookimpl
def kd_claims() -> Sequence[str]:
    """Claim the Hadoop (HDFS and YARN) app types."""
    return CLAIMS
