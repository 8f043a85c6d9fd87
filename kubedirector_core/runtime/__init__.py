"""The only code that talks to Kubernetes.

``operator``     kopf watches -> :mod:`cache` -> :mod:`workqueue` -> :mod:`reconciler`
``reconciler``   one reconcile of one cluster: observe, ``plan_cluster``, act, one status write
``kubeapi``      requests as plain dicts: server-side apply, patches, deletes, retries
``drift``        whether a desired object must be applied (nothing written when nothing changed)
``statuspatch``  the status merge patch, and the runtime's own conditions
``podexec``      exec in a member's container; ``admission``: the validating webhook
``connection``, ``selectors``, ``objects``: credentials, namespace selectors, kinds and labels
"""
