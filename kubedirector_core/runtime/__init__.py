"""The only code that talks to Kubernetes.

``operator``     kopf watches -> :mod:`cache` -> :mod:`workqueue` -> :mod:`reconciler`;
                 ``supervise`` wins the Lease (:mod:`leader`), then runs the operator
``reconciler``   one reconcile of one cluster: observe, ``plan_cluster``, act, one status write
``cache``        watch-fed state of clusters, children, pods and nodes; ``nodeusage``: what
                 every bound pod in any namespace requests, per node (gang capacity)
``autoscale_metrics``  metrics of autoscaled roles: resource metrics API, Prometheus, plugins
``kubeapi``      requests as plain dicts: server-side apply, patches, deletes, retries
``drift``        whether a desired object must be applied (nothing written when nothing changed)
``statuspatch``  the status merge patch, and the runtime's own conditions
``podexec``      exec in a member's container
``pinnedclaims`` which claims of members on gone nodes are pinned to that node (node-local PVs)
``admission``     the admission webhooks' handlers; ``webhook``: their options, configurations
                 and TLS Secret; ``webhookserver``: the HTTPS server every replica runs;
                 ``webhooktls``: the self-managed CA and serving certificate, rotated
``leader``       Lease-based leader election: a standby reconciles nothing
``telemetry``, ``health``, ``logs``: Prometheus metrics, liveness/readiness probes, JSON logs
``httpthread``   the threaded HTTP server under the probe/metrics and webhook servers
``connection``, ``selectors``, ``objects``: credentials, namespace selectors, kinds and labels
"""
