"""Credentials: one kubeconfig (or the in-cluster service account) for kopf and the client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client, config


def load_configuration(kubeconfig: Path | None, context: str | None = None) -> client.Configuration:
    """The client configuration from ``kubeconfig``, ``$KUBECONFIG``, in-cluster, or ``~/.kube``.

    Raises ``kubernetes.config.ConfigException`` when none is usable.
    """
    configuration = client.Configuration()
    if (
        kubeconfig is None
        and "KUBECONFIG" not in os.environ
        and os.environ.get("KUBERNETES_SERVICE_HOST")
    ):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    return configuration


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """The same credentials in the form kopf's login handler returns."""
    token: Any = (configuration.api_key or {}).get("authorization") or (
        configuration.api_key or {}
    ).get("BearerToken")
    if isinstance(token, str) and token.lower().startswith("bearer "):
        token = token[7:]
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        token=token,
        username=configuration.username or None,
        password=configuration.password or None,
    )
