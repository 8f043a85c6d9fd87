"""Member and cluster states, as the original KubeDirector names them.

A member goes ``create pending`` (in the status, no pod yet) -> ``creating``
(its pod exists; being set up) -> ``configured`` (or ``config error`` when its
setup failed in its current container), and when its role shrinks
``delete pending`` (others are told it leaves) -> ``deleting`` (its pod and
volume are going). A cluster is ``creating`` until every member was first
configured, then ``configured``, and ``updating`` while members come or go.
"""

from __future__ import annotations

from typing import Final

CREATE_PENDING: Final = "create pending"
CREATING: Final = "creating"
CONFIGURED: Final = "configured"
CONFIG_ERROR: Final = "config error"
DELETE_PENDING: Final = "delete pending"
DELETING: Final = "deleting"

#: Members listed in configmeta and counted by the StatefulSet's replicas.
LISTED_STATES: Final = frozenset({CREATE_PENDING, CREATING, CONFIGURED, CONFIG_ERROR})
#: Members on their way out.
LEAVING_STATES: Final = frozenset({DELETE_PENDING, DELETING})
#: Members joining the cluster.
JOINING_STATES: Final = frozenset({CREATE_PENDING, CREATING})

CLUSTER_CREATING: Final = "creating"
CLUSTER_UPDATING: Final = "updating"
CLUSTER_CONFIGURED: Final = "configured"
