"""KubeDirectorCluster: one running instance of an app (spec and status).

Field names and meanings are KubeDirector's (``kubedirectorcluster_types.go``);
fields this project adds say so in their description.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from kubedirector_core.api.app import MAX_ROLES, NULLABLE, ROLE_ID_PATTERN
from kubedirector_core.api.base import API_VERSION, Resource, WireModel
from kubedirector_core.api.quantity import Quantity

#: KubeDirector's cap on the members of one cluster.
MAX_MEMBERS = 1000

PRESERVE: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
MOUNT_PATH_PATTERN = r"^/[a-zA-Z0-9\/-_]*"
ABSOLUTE_PATH_PATTERN = r"^/.*$"
URL_PATTERN = r"^https?://.+$"
NAME_MAP = dict[str, StrictStr]
OURS = "An addition of kubedirector-core; the original KubeDirector has no such field."


class Connections(WireModel):
    """Other objects whose details are passed to the members (in configmeta.json)."""

    clusters: list[StrictStr] | None = Field(
        default=None, description="Names of KubeDirectorClusters in the same namespace."
    )
    configmaps: list[StrictStr] | None = Field(
        default=None, description="Names of ConfigMaps in the same namespace."
    )
    secrets: list[StrictStr] | None = Field(
        default=None,
        description="Names of Secrets in the same namespace (referenced, never copied).",
    )


class KDSecret(WireModel):
    """A Secret mounted into the app containers."""

    name: StrictStr = Field(min_length=1, description="Name of the Secret, in the same namespace.")
    mount_path: StrictStr = Field(
        min_length=1,
        pattern=MOUNT_PATH_PATTERN,
        description="Absolute directory where the Secret's keys appear as files.",
    )
    default_mode: StrictInt | None = Field(
        default=None, ge=0, le=511, description="File mode bits of the files (e.g. 0o644 = 420)."
    )
    read_only: StrictBool | None = Field(default=None, description="Mount read-only.")


class Resources(WireModel):
    """Compute resources of each member: requests and limits, as quantities.

    Keys are resource names (``cpu``, ``memory``, ``ephemeral-storage`` and
    extended resources such as ``nvidia.com/gpu``); values are quantities.
    """

    requests: dict[str, Quantity] | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="Resources each member is guaranteed; defaults to the limits.",
    )
    limits: dict[str, Quantity] = Field(
        description="Most resources each member may use; memory and cpu are required.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "'memory' in self",
                    "message": "a memory limit is required: set resources.limits.memory, "
                    "e.g. '4Gi'",
                },
                {
                    "rule": "'cpu' in self",
                    "message": "a cpu limit is required: set resources.limits.cpu, e.g. '2'",
                },
            ]
        },
    )


class ClusterStorage(WireModel):
    """Persistent storage of each member, for the app role's persistDirs."""

    size: Quantity = Field(description="Size of each member's volume, e.g. '40Gi'.")
    storage_class_name: StrictStr | None = Field(
        default=None,
        min_length=1,
        description="StorageClass of the volumes; defaults to KubeDirectorConfig's "
        "defaultStorageClassName, then to the cluster's default StorageClass.",
    )


class BlockStorage(WireModel):
    """Raw block devices given to each member."""

    storage_class_name: StrictStr = Field(
        min_length=1, description="StorageClass of the block volumes."
    )
    path_prefix: StrictStr = Field(
        min_length=1,
        pattern=ABSOLUTE_PATH_PATTERN,
        description="Device path prefix inside the container; devices are numbered from it.",
    )
    num_devices: StrictInt = Field(ge=1, description="How many devices each member gets.")
    size: Quantity | None = Field(default=None, description="Size of each device.")


class EnvVar(WireModel):
    """An environment variable of the app containers."""

    name: StrictStr = Field(min_length=1, description="The variable's name.")
    value: StrictStr | None = Field(default=None, description="The variable's value.")
    value_from: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=PRESERVE,
        description="A Kubernetes EnvVarSource (e.g. secretKeyRef). " + OURS,
    )


class FilePermissions(WireModel):
    """Mode and ownership of an injected file."""

    file_mode: StrictInt | None = Field(default=None, description="File mode bits.")
    file_owner: StrictStr | None = Field(default=None, description="Owning user.")
    file_group: StrictStr | None = Field(default=None, description="Owning group.")


class FileInjection(WireModel):
    """A file downloaded into every member of a role before setup runs."""

    src_url: StrictStr = Field(
        alias="srcURL", pattern=URL_PATTERN, description="http(s) URL of the file."
    )
    dest_dir: StrictStr = Field(
        min_length=1,
        pattern=ABSOLUTE_PATH_PATTERN,
        description="Absolute directory in the container to put the file in.",
    )
    permissions: FilePermissions | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Mode and ownership of the file."
    )


class SecretKey(WireModel):
    """A secret value available to the setup scripts only, stored encrypted."""

    name: StrictStr = Field(min_length=1, description="The key's name.")
    value: StrictStr | None = Field(
        default=None, description="The plain value; the webhook replaces it with encryptedValue."
    )
    encrypted_value: StrictStr | None = Field(
        default=None, min_length=1, description="The encrypted value, written by the webhook."
    )


class VolumeProjection(WireModel):
    """An existing PersistentVolumeClaim mounted into every member of a role."""

    pvc_name: StrictStr = Field(
        alias="pvcName", min_length=1, description="Name of the claim, in the same namespace."
    )
    mount_path: StrictStr = Field(
        min_length=1, pattern=ABSOLUTE_PATH_PATTERN, description="Where to mount it."
    )
    read_only: StrictBool | None = Field(default=None, description="Mount read-only.")


class MetricSource(WireModel):
    """Where the metrics of an autoscaled role come from."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'Prometheus' || (has(self.url) && has(self.query))",
                    "message": "a Prometheus metric source needs url and query",
                }
            ]
        }
    )

    type: Literal["Resource", "Prometheus", "Plugin"] = Field(
        description="'Resource': the Kubernetes resource metrics API (metrics.k8s.io), giving "
        "cpu_utilization; 'Prometheus': the query below on a Prometheus HTTP API; 'Plugin': "
        "metrics supplied by the app's plugin. " + OURS
    )
    url: StrictStr | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description="Base URL of the Prometheus HTTP API (type Prometheus); for type Plugin, "
        "the URL to read instead of the one the plugin names. " + OURS,
    )
    query: StrictStr | None = Field(
        default=None,
        min_length=1,
        description="A PromQL query giving one number for the role (type Prometheus). " + OURS,
    )
    metric: StrictStr | None = Field(
        default=None,
        min_length=1,
        description="The name the query's value is given to the autoscale policy under; "
        "defaults to cpu_utilization. " + OURS,
    )


class RoleAutoscale(WireModel):
    """Autoscaling of one role between bounds, decided by the app's autoscale policy."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.minMembers <= self.maxMembers",
                    "message": "autoscale.minMembers must not be greater than maxMembers",
                }
            ]
        }
    )

    enabled: StrictBool | None = Field(
        default=None, description="Whether the role is autoscaled; defaults to true. " + OURS
    )
    min_members: StrictInt = Field(
        ge=0, le=MAX_MEMBERS, description="The fewest members autoscaling keeps. " + OURS
    )
    max_members: StrictInt = Field(
        ge=0, le=MAX_MEMBERS, description="The most members autoscaling gives. " + OURS
    )
    evaluation_interval_seconds: StrictInt | None = Field(
        default=None,
        ge=1,
        description="How often the policy is asked, in seconds; defaults to 30. " + OURS,
    )
    scale_up_stabilization_seconds: StrictInt | None = Field(
        default=None,
        ge=0,
        description="The role grows only to the lowest count recommended within this many "
        "seconds; defaults to 0. " + OURS,
    )
    scale_down_stabilization_seconds: StrictInt | None = Field(
        default=None,
        ge=0,
        description="The role shrinks only to the highest count recommended within this "
        "many seconds; defaults to 300. " + OURS,
    )
    target_utilization: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="The utilization the default policy steers towards; defaults to 0.7. " + OURS,
    )
    metric_source: MetricSource | None = Field(
        default=None, description="Where metrics come from; defaults to type Resource. " + OURS
    )

    @model_validator(mode="after")
    def _bounds(self) -> RoleAutoscale:
        if self.min_members > self.max_members:
            raise ValueError(
                f"autoscale.minMembers ({self.min_members}) must not be greater than "
                f"maxMembers ({self.max_members})"
            )
        return self


class ClusterRole(WireModel):
    """A role of the cluster: how many members, their resources and storage."""

    id: StrictStr = Field(
        min_length=1,
        max_length=63,
        pattern=ROLE_ID_PATTERN,
        description="The id of a role of the app (spec.roles[].id of the KubeDirectorApp).",
    )
    members: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_MEMBERS,
        description="How many members; must fit the app role's cardinality. "
        "Defaults to its minimum.",
    )
    resources: Resources = Field(description="Compute resources of each member.")
    storage: ClusterStorage | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Persistent storage of each member."
    )
    block_storage: BlockStorage | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Block devices of each member."
    )
    env: list[EnvVar] | None = Field(
        default=None, description="Environment variables of the app containers."
    )
    file_injections: list[FileInjection] | None = Field(
        default=None, description="Files downloaded into each member before setup."
    )
    secret: KDSecret | None = Field(
        default=None, json_schema_extra=NULLABLE, description="A Secret mounted into each member."
    )
    pod_labels: NAME_MAP | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Extra labels of the members' pods."
    )
    pod_annotations: NAME_MAP | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Extra annotations of the pods."
    )
    service_labels: NAME_MAP | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="Extra labels of the members' services.",
    )
    service_annotations: NAME_MAP | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Extra annotations of the services."
    )
    affinity: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=PRESERVE,
        description="A Kubernetes Affinity (nodeAffinity, podAffinity, podAntiAffinity) "
        "of the pods.",
    )
    service_account_name: StrictStr | None = Field(
        default=None, min_length=1, description="ServiceAccount the pods run as."
    )
    shared_memory: Quantity | None = Field(
        default=None, description="Size of /dev/shm in each member, e.g. '1Gi'."
    )
    secret_keys: list[SecretKey] | None = Field(
        default=None, description="Secret values for the setup scripts, stored encrypted."
    )
    volume_projections: list[VolumeProjection] | None = Field(
        default=None, description="Existing PersistentVolumeClaims mounted into each member."
    )
    autoscale: RoleAutoscale | None = Field(
        default=None,
        description="Autoscale the role's member count between bounds; the count asked for "
        "in members is then only the starting point. Not allowed for a role whose app "
        "cardinality is fixed. " + OURS,
    )


class ClusterSpec(WireModel):
    """The cluster a user asks for: which app, which roles, how many members."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(oldSelf.appCatalog) || "
                    "(has(self.appCatalog) && self.appCatalog == oldSelf.appCatalog)",
                    "message": "appCatalog is immutable: delete and re-create the cluster "
                    "to use another catalog",
                },
                {
                    "rule": "self.roles.map(r, has(r.members) ? r.members : 0).sum() <= 1000",
                    "message": "a cluster may have at most 1000 members in all",
                },
            ]
        }
    )

    app: StrictStr = Field(
        min_length=1,
        description="Name of the KubeDirectorApp this cluster instantiates; immutable.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "app is immutable: delete and re-create the cluster "
                    "to change its app",
                }
            ]
        },
    )
    app_catalog: Literal["local", "system"] | None = Field(
        default=None,
        description="Where the app is looked up: 'local' (the cluster's namespace) or "
        "'system' (KubeDirector's namespace); immutable once set.",
    )
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] | None = Field(
        default=None,
        description="Type of the members' Services; defaults to KubeDirectorConfig's "
        "defaultServiceType.",
    )
    naming_scheme: Literal["UID", "CrNameRole"] | None = Field(
        default=None,
        description="How child objects are named: 'CrNameRole' (cluster and role names) or "
        "'UID' (generated); defaults to KubeDirectorConfig's defaultNamingScheme.",
    )
    default_secret: KDSecret | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="A Secret mounted into members of roles that name none.",
    )
    connections: Connections | None = Field(
        default=None, description="Clusters, ConfigMaps and Secrets this cluster is told about."
    )
    roles: list[ClusterRole] = Field(
        max_length=MAX_ROLES,
        description="The roles of the cluster, by app role id.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    node_down_grace_seconds: StrictInt | None = Field(
        default=None,
        ge=0,
        description="How long a member's node may be NotReady or unreachable before the "
        "default node-down policy replaces the member, in seconds; defaults to 300. " + OURS,
    )


class NotificationDesc(WireModel):
    """A lifecycle notification a member still has to run."""

    arguments: list[StrictStr] | None = Field(
        default=None, description="Arguments of the startscript call (e.g. --addnodes ...)."
    )
    key: StrictStr | None = Field(
        default=None,
        description="Identifies the notification's effect: the member records it once the "
        "notification ran, so that it is never run twice. " + OURS,
    )


class MemberReadiness(WireModel):
    """The readiness action a plugin asked for a set-up member (``kd_member_readiness``)."""

    key: StrictStr = Field(description="The plugin's key of the readiness action. " + OURS)
    plugin: StrictStr | None = Field(
        default=None, description="The plugin that asked for it. " + OURS
    )
    started_at: StrictStr | None = Field(
        default=None,
        description="When the core first ran it for the member's current setup (RFC 3339); "
        "a check that has not passed timeoutSeconds later fails. " + OURS,
    )
    error: StrictStr | None = Field(
        default=None,
        description="Why it failed; the member is in config error until the plugin asks for "
        "another action (a new key), answers none, or the container changes. " + OURS,
    )


class MemberStateDetail(WireModel):
    """Details of a member's configuration by its setup scripts."""

    config_error_detail: StrictStr | None = Field(
        default=None, description="Why the last configuration failed."
    )
    last_config_data_generation: StrictInt | None = Field(
        default=None, description="Generation of configmeta.json the member last received."
    )
    last_setup_generation: StrictInt | None = Field(
        default=None, description="Generation of configmeta.json the member was set up with."
    )
    configuring_container: StrictStr | None = Field(
        default=None, description="Id of the container being configured."
    )
    last_configured_container: StrictStr | None = Field(
        default=None, description="Id of the container last configured."
    )
    last_known_container_state: StrictStr | None = Field(
        default=None, description="Last observed state of the app container."
    )
    pending_notify_cmds: list[NotificationDesc] | None = Field(
        default=None, description="Notifications the member has yet to run."
    )
    last_connection_version: StrictInt | None = Field(
        default=None, description="Version of the connections the member last saw."
    )
    last_setup_key: StrictStr | None = Field(
        default=None,
        description="Key of the member's last setup attempt; a failed setup is retried when "
        "the key changes (the setup package or file injections changed) or the container "
        "does. " + OURS,
    )
    start_script_stdout_message: StrictStr | None = Field(
        default=None,
        alias="startScriptStdoutMessage",
        description="Tail of the setup script's standard output.",
    )
    start_script_stderr_message: StrictStr | None = Field(
        default=None,
        alias="startScriptStderrMessage",
        description="Tail of the setup script's standard error.",
    )
    scheduling_error_message: StrictStr | None = Field(
        default=None, description="Why the member's pod cannot be scheduled."
    )
    storage_init_progress: StrictStr | None = Field(
        default=None, description="Progress of copying persistent directories to storage."
    )
    readiness: MemberReadiness | None = Field(
        default=None,
        description="The plugin's readiness action for a set-up member not yet ready; "
        "removed once it is done. " + OURS,
    )
    waiting_for: StrictStr | None = Field(
        default=None,
        description="What a set-up member waits for before it counts as ready. " + OURS,
    )


class SetupResult(WireModel):
    """How the member's last setup or notification script ended."""

    exit_status: StrictInt | None = Field(default=None, description="The script's exit status.")
    output_tail: StrictStr | None = Field(
        default=None, description="The last lines of the script's output."
    )
    finished_at: StrictStr | None = Field(
        default=None, description="When the script ended (RFC 3339)."
    )


class MemberStatus(WireModel):
    """The objects and state of one member of the cluster."""

    pod: StrictStr | None = Field(default=None, description="Name of the member's pod.")
    service: StrictStr | None = Field(default=None, description="Name of the member's Service.")
    auth_token: StrictStr | None = Field(
        default=None, description="Auth token of endpoints with hasAuthToken."
    )
    pvc: StrictStr | None = Field(default=None, description="Name of the member's claim.")
    state: StrictStr | None = Field(
        default=None, description="Member state: create pending, creating, ready, config error..."
    )
    state_detail: MemberStateDetail | None = Field(
        default=None, description="Details of the member's configuration."
    )
    node_id: StrictInt | None = Field(
        default=None, alias="nodeID", description="The member's number in configmeta.json."
    )
    block_device_paths: list[StrictStr] | None = Field(
        default=None, description="Paths of the member's block devices."
    )
    configured: StrictBool | None = Field(
        default=None,
        description="True once the member's setup ran to success in its current container. " + OURS,
    )
    container_id: StrictStr | None = Field(
        default=None,
        alias="containerID",
        description="Id of the container the member was configured in. " + OURS,
    )
    setup_result: SetupResult | None = Field(
        default=None, description="How the last in-container script ended. " + OURS
    )


class RoleStatus(WireModel):
    """The objects of one role of the cluster."""

    id: StrictStr = Field(description="The role id.")
    stateful_set: StrictStr | None = Field(
        default=None, description="Name of the role's StatefulSet."
    )
    members: list[MemberStatus] | None = Field(default=None, description="The role's members.")
    encrypted_secret_keys: NAME_MAP | None = Field(
        default=None, description="Encrypted values of the role's secretKeys."
    )


class StateRollup(WireModel):
    """Whether any member is in a state worth a look."""

    membership_changing: StrictBool | None = Field(default=None, description="Members come or go.")
    members_down: StrictBool | None = Field(default=None, description="A member is down.")
    members_initializing: StrictBool | None = Field(
        default=None, description="A member is being set up."
    )
    members_waiting: StrictBool | None = Field(default=None, description="A member is waiting.")
    members_restarting: StrictBool | None = Field(
        default=None, description="A member is restarting."
    )
    config_errors: StrictBool | None = Field(default=None, description="A member's setup failed.")
    members_not_scheduled: StrictBool | None = Field(
        default=None, description="A member's pod cannot be scheduled."
    )


class RestoreProgress(WireModel):
    """What a restore from backup still waits for."""

    awaiting_app: StrictBool | None = Field(default=None, description="The app is missing.")
    awaiting_status: StrictBool | None = Field(default=None, description="The status is missing.")
    awaiting_resources: StrictBool | None = Field(
        default=None, description="Child objects are missing."
    )
    error: StrictStr | None = Field(default=None, description="Why the restore is stuck.")


class Condition(WireModel):
    """A Kubernetes-style condition (type, status, reason, message)."""

    type: StrictStr = Field(description="The condition's type, e.g. Ready or Valid.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: StrictStr | None = Field(default=None, description="A CamelCase reason.")
    message: StrictStr | None = Field(default=None, description="What a person should know.")
    last_transition_time: StrictStr | None = Field(
        default=None, description="When the status last changed (RFC 3339)."
    )
    observed_generation: StrictInt | None = Field(
        default=None, description="The spec generation the condition describes."
    )


class Notification(WireModel):
    """A lifecycle event (addnodes, delnodes...) queued for members to run."""

    event: StrictStr = Field(description="The event: configure, addnodes, delnodes or reconnect.")
    arguments: list[StrictStr] | None = Field(
        default=None, description="Arguments of the startscript call."
    )
    pending_members: list[StrictStr] | None = Field(
        default=None, description="Pods that still have to run it."
    )
    generation: StrictInt | None = Field(
        default=None, description="The spec generation that caused it."
    )


class DoneAction(WireModel):
    """A plugin's in-container action that finished successfully."""

    key: StrictStr = Field(description="The plugin's key of the action. " + OURS)
    role: StrictStr | None = Field(
        default=None, description="The role whose resize asked for it. " + OURS
    )
    member: StrictStr | None = Field(default=None, description="Where it ran. " + OURS)
    readiness_of: StrictStr | None = Field(
        default=None,
        description="The member this action proved ready (kd_member_readiness); absent for "
        "a resize's action. " + OURS,
    )
    finished_at: StrictStr | None = Field(
        default=None, description="When it was recorded done (RFC 3339). " + OURS
    )
    hook: StrictStr | None = Field(
        default=None,
        description="The hook that asked for it: kd_on_config_change; absent means "
        "kd_on_resize of role. " + OURS,
    )


class ReconciledConfig(WireModel):
    """The spec fields a running cluster may change without resizing a role, as last reconciled.

    kd_on_config_change gets them as its ``old`` cluster; that is all they are kept for.
    """

    generation: StrictInt | None = Field(
        default=None, description="The spec generation these values were taken from. " + OURS
    )
    connections: Connections | None = Field(
        default=None,
        description="spec.connections as last reconciled (names only, as in the spec). " + OURS,
    )


class ConfigChange(WireModel):
    """A change of the fields of reconciledConfig that is being carried out."""

    generation: StrictInt | None = Field(
        default=None, description="The spec generation the change was found in. " + OURS
    )
    digest: StrictStr = Field(description="Identifies the values being changed to. " + OURS)
    actions: list[StrictStr] | None = Field(
        default=None,
        description="Keys of the actions kd_on_config_change asked for; the change is done "
        "once they are all in doneActions. " + OURS,
    )


class NodeDownRecord(WireModel):
    """A member found on a failed node: what was detected, decided and done."""

    member: StrictStr = Field(description="The member's pod. " + OURS)
    role: StrictStr | None = Field(default=None, description="The member's role. " + OURS)
    node: StrictStr | None = Field(default=None, description="The failed node. " + OURS)
    problem: StrictStr | None = Field(
        default=None, description="not-ready, unreachable or gone. " + OURS
    )
    pod_uid: StrictStr | None = Field(
        default=None,
        alias="podUID",
        description="The uid of the pod found on the failed node. " + OURS,
    )
    detected_at: StrictStr | None = Field(
        default=None, description="When the problem was first seen (RFC 3339). " + OURS
    )
    decision: StrictStr | None = Field(
        default=None,
        description="wait, replace-member, restart-role or restart-cluster. " + OURS,
    )
    plugin: StrictStr | None = Field(
        default=None, description="The plugin whose policy decided ('core': the default). " + OURS
    )
    reason: StrictStr | None = Field(default=None, description="Why, as the policy says. " + OURS)
    decided_at: StrictStr | None = Field(
        default=None, description="When the decision was last made (RFC 3339). " + OURS
    )
    phase: StrictStr | None = Field(
        default=None,
        description="waiting, replacing (pods being deleted), recovering (the member comes "
        "back) or done. " + OURS,
    )
    replaced_uids: list[StrictStr] | None = Field(
        default=None,
        alias="replacedUIDs",
        description="Uids of the pods deleted to carry out the decision. " + OURS,
    )
    force: StrictBool | None = Field(
        default=None,
        description="The policy allowed forced deletion on a present failed node. " + OURS,
    )
    waiting_for: StrictStr | None = Field(
        default=None,
        description="What the replacement waits for, and what a person can do about it. " + OURS,
    )
    recovered_at: StrictStr | None = Field(
        default=None,
        description="When the member was configured again after a replacement (RFC 3339). " + OURS,
    )
    volume_recreated: StrictBool | None = Field(
        default=None,
        description="The member's volume claim was deleted with its pod: its volume could "
        "be used only on the failed node, so the member started afresh on a new one. " + OURS,
    )
    volume_reason: StrictStr | None = Field(
        default=None, description="Why the volume could not follow the member. " + OURS
    )
    recreated_claims: list[StrictStr] | None = Field(
        default=None, description="The volume claims deleted with the member's pod. " + OURS
    )


class AutoscaleRecommendation(WireModel):
    """One member count the autoscale policy recommended, for the stabilization windows."""

    at: StrictStr = Field(description="When (RFC 3339). " + OURS)
    members: StrictInt = Field(description="The recommended count, within bounds. " + OURS)


class AutoscaleDecision(WireModel):
    """One autoscale evaluation: its inputs, its answer and why."""

    at: StrictStr | None = Field(default=None, description="When (RFC 3339). " + OURS)
    current_members: StrictInt | None = Field(
        default=None, description="The member count before. " + OURS
    )
    recommended_members: StrictInt | None = Field(
        default=None, description="The policy's answer, clamped to the bounds. " + OURS
    )
    desired_members: StrictInt | None = Field(
        default=None, description="The count after the stabilization windows. " + OURS
    )
    metrics: dict[str, float] | None = Field(
        default=None, description="The metrics the policy was given. " + OURS
    )
    plugin: StrictStr | None = Field(
        default=None, description="The plugin whose policy answered. " + OURS
    )
    reason: StrictStr | None = Field(default=None, description="Why this count. " + OURS)


class RoleAutoscaleStatus(WireModel):
    """Where autoscaling of one role stands."""

    role: StrictStr = Field(description="The role id. " + OURS)
    desired_members: StrictInt | None = Field(
        default=None, description="The member count autoscaling asks for. " + OURS
    )
    last_evaluated_at: StrictStr | None = Field(
        default=None, description="When the policy was last asked (RFC 3339). " + OURS
    )
    recommendations: list[AutoscaleRecommendation] | None = Field(
        default=None,
        description="Recent recommendations, within the longest stabilization window. " + OURS,
    )
    last_decision: AutoscaleDecision | None = Field(
        default=None, description="The last evaluation. " + OURS
    )


class ClusterStatus(WireModel):
    """What the operator observed and did; written by the operator only."""

    state: StrictStr | None = Field(
        default=None, description="Cluster state: creating, configured, updating, error..."
    )
    restore_progress: RestoreProgress | None = Field(
        default=None, description="Progress of a restore from backup."
    )
    member_state_rollup: StateRollup | None = Field(
        default=None, description="Whether any member needs a look."
    )
    generation_uid: StrictStr | None = Field(
        default=None, alias="generationUID", description="Changes on every status write."
    )
    spec_generation_to_process: StrictInt | None = Field(
        default=None, description="Spec generation the operator is working on."
    )
    cluster_service: StrictStr | None = Field(
        default=None, description="Name of the cluster's headless Service."
    )
    last_node_id: StrictInt | None = Field(
        default=None, alias="lastNodeID", description="The last member number handed out."
    )
    roles: list[RoleStatus] | None = Field(
        default=None,
        description="Objects and members of each role.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    last_connection_hash: StrictStr | None = Field(
        default=None, description="Hash of the connected objects last told to members."
    )
    observed_generation: StrictInt | None = Field(
        default=None, description="The spec generation last reconciled. " + OURS
    )
    members_ready: StrictStr | None = Field(
        default=None,
        description="Ready members / members asked for, e.g. '3/4' (a printer column). " + OURS,
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Kubernetes-style conditions (Ready, Valid...). " + OURS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    notifications: list[Notification] | None = Field(
        default=None,
        description="Queue of lifecycle notifications not yet run by every member; kept here so "
        "it survives an operator restart. " + OURS,
    )
    done_actions: list[DoneAction] | None = Field(
        default=None,
        description="Plugins' in-container actions that finished: of resizes and configuration "
        "changes under way, and readiness actions of members not yet ready; cleared once the "
        "resize or change is done or the member ready. " + OURS,
    )
    reconciled_config: ReconciledConfig | None = Field(
        default=None,
        description="The spec fields that change without a resize (connections), as last "
        "reconciled: what kd_on_config_change is told they were. " + OURS,
    )
    config_change: ConfigChange | None = Field(
        default=None,
        description="A change of those fields under way: members told with --reconnect, then "
        "the plugins' actions run. " + OURS,
    )
    node_down: list[NodeDownRecord] | None = Field(
        default=None,
        description="Members found on failed nodes: what was detected and decided. " + OURS,
    )
    autoscale: list[RoleAutoscaleStatus] | None = Field(
        default=None,
        description="Autoscaling of each autoscaled role: its count and last decision. " + OURS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["role"]},
    )


class KubeDirectorCluster(Resource):
    """A KubeDirector cluster: one running instance of an app."""

    KIND: ClassVar[str] = "KubeDirectorCluster"

    api_version: Literal["kubedirector.hpe.com/v1beta1"] = Field(
        alias="apiVersion", description=f"Always {API_VERSION!r}."
    )
    kind: Literal["KubeDirectorCluster"] = Field(description="Always 'KubeDirectorCluster'.")
    spec: ClusterSpec = Field(description="The cluster asked for.")
    status: ClusterStatus | None = Field(
        default=None, description="What the operator observed and did."
    )

    def role(self, role_id: str) -> ClusterRole | None:
        """Return the cluster role with this id, or None."""
        return next((role for role in self.spec.roles if role.id == role_id), None)

    @property
    def total_members(self) -> int:
        """The members asked for in all roles (roles without a count count as 0)."""
        return sum(role.members or 0 for role in self.spec.roles)
