"""KubeDirectorApp: an app type, described once (images, roles, services, setup).

Field names and meanings are KubeDirector's (``kubedirectorapp_types.go``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr

from kubedirector_core.api.base import API_VERSION, OpenWireModel, Resource, WireModel
from kubedirector_core.api.quantity import Quantity

#: Role ids: a DNS-label-like token of at most 63 characters.
ROLE_ID_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
#: Service ids and URL schemes: a DNS label of at most 15 characters.
SERVICE_ID_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: "N" (exactly N members) or "N+" (at least N members).
CARDINALITY_PATTERN = r"^[0-9]+\+?$"
PACKAGE_URL_PATTERN = r"^(file|https?)://.+\.tgz$"
PERSIST_DIR_PATTERN = r"^/.*[^/]$"
EVENT_PATTERN = r"^configure$|^addnodes$|^delnodes$"
LOGO_URL_PATTERN = r"^(file|https|http?)://.+\.(jpeg|png)$"

#: Bounds that keep the CRD's CEL rules within the API server's cost budget.
MAX_ROLES = 64
MAX_SERVICES = 128

NULLABLE: dict[str, Any] = {"nullable": True}

RoleId = Annotated[StrictStr, Field(min_length=1, max_length=63, pattern=ROLE_ID_PATTERN)]
ServiceId = Annotated[StrictStr, Field(min_length=1, max_length=15, pattern=SERVICE_ID_PATTERN)]
PersistDir = Annotated[StrictStr, Field(pattern=PERSIST_DIR_PATTERN)]
EventName = Annotated[StrictStr, Field(pattern=EVENT_PATTERN)]


class Label(OpenWireModel):
    """A human-readable name and description."""

    name: StrictStr = Field(min_length=1, description="A short human-readable name.")
    description: StrictStr | None = Field(
        default=None, description="A longer human-readable description."
    )


class SetupPackage(WireModel):
    """Where the app's setup package (its configuration scripts) comes from."""

    package_url: StrictStr = Field(
        alias="packageURL",
        pattern=PACKAGE_URL_PATTERN,
        description="URL of the setup package: file:// (inside the image) or http(s)://, a .tgz.",
    )
    use_new_setup_layout: StrictBool | None = Field(
        default=None,
        description="True when the package uses KubeDirector's newer layout "
        "(startscript at the top).",
    )


class ServiceEndpoint(WireModel):
    """A network endpoint a service exposes on each member of its roles."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.isDashboard) || !self.isDashboard || has(self.urlScheme)",
                    "message": "a dashboard endpoint needs a urlScheme (e.g. http): set "
                    "endpoint.urlScheme or set isDashboard to false",
                }
            ]
        }
    )

    port: StrictInt = Field(ge=1, le=65535, description="The TCP port the service listens on.")
    url_scheme: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=15,
        pattern=SERVICE_ID_PATTERN,
        description="URL scheme used to reach the endpoint (http, https, spark...). "
        "Required when isDashboard is true.",
    )
    path: StrictStr | None = Field(default=None, description="URL path of the endpoint.")
    is_dashboard: StrictBool | None = Field(
        default=None, description="True when the endpoint is a web UI a person may open."
    )
    has_auth_token: StrictBool | None = Field(
        default=None,
        description="True when KubeDirector generates an auth token for the endpoint, "
        "reported in each member's status.",
    )


class AppService(OpenWireModel):
    """A service of the app: an id, a label, and optionally a network endpoint."""

    id: StrictStr = Field(
        min_length=1,
        max_length=15,
        pattern=SERVICE_ID_PATTERN,
        description="The service id, unique in the app; referenced by config.roleServices.",
    )
    label: Label | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Human-readable name."
    )
    endpoint: ServiceEndpoint | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="The network endpoint; absent for services without one.",
    )
    exported_service: StrictStr | None = Field(
        default=None,
        alias="exported_service",
        description="Name under which the service is exported to connected clusters.",
    )


class MinStorage(WireModel):
    """The least persistent storage a role's members need."""

    size: Quantity = Field(description="The minimum storage size, a quantity such as '40Gi'.")
    ephemeral_mode_supported: StrictBool | None = Field(
        default=None,
        description="True when the role may also run with no persistent storage at all.",
    )


class ContainerSpec(WireModel):
    """Terminal settings of a role's app container."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.tty) || !self.tty || (has(self.stdin) && self.stdin)",
                    "message": "tty needs stdin: set containerSpec.stdin to true as well",
                }
            ]
        }
    )

    stdin: StrictBool | None = Field(default=None, description="Keep stdin open in the container.")
    tty: StrictBool | None = Field(
        default=None, description="Allocate a TTY for the container; requires stdin."
    )


class AppRole(WireModel):
    """A role of the app: a kind of member with its own image, setup and cardinality."""

    id: StrictStr = Field(
        min_length=1,
        max_length=63,
        pattern=ROLE_ID_PATTERN,
        description="The role id, unique in the app; clusters name roles by it.",
    )
    cardinality: StrictStr = Field(
        pattern=CARDINALITY_PATTERN,
        description='How many members a cluster may give the role: "N" exactly N, "N+" at least N.',
    )
    image_repo_tag: StrictStr | None = Field(
        default=None,
        min_length=1,
        description="Container image of the role; defaults to spec.defaultImageRepoTag.",
    )
    config_package: SetupPackage | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="Setup package of the role; null means none, absent means "
        "spec.defaultConfigPackage.",
    )
    persist_dirs: list[PersistDir] | None = Field(
        default=None,
        description="Directories kept on persistent storage; defaults to spec.defaultPersistDirs.",
    )
    event_list: list[EventName] | None = Field(
        default=None,
        description="Lifecycle events the setup package handles (configure, addnodes, "
        "delnodes); defaults to spec.defaultEventList, else all.",
    )
    min_resources: dict[str, Quantity] | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="The least resources (cpu, memory, nvidia.com/gpu...) a member may request.",
    )
    min_storage: MinStorage | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="The least persistent storage a member needs.",
    )
    container_spec: ContainerSpec | None = Field(
        default=None, json_schema_extra=NULLABLE, description="Terminal settings of the container."
    )
    max_log_size_dump: StrictInt | None = Field(
        default=None,
        ge=0,
        description="How many bytes of setup-script output to keep; defaults to "
        "spec.defaultMaxLogSizeDump.",
    )

    @property
    def min_members(self) -> int:
        """The least members a cluster may give the role (the N of "N" or "N+")."""
        return int(self.cardinality.rstrip("+"))

    @property
    def scales_out(self) -> bool:
        """True for "N+" cardinalities, which allow any number of members from N."""
        return self.cardinality.endswith("+")


class RoleServices(WireModel):
    """Which services run on the members of one role."""

    role_id: StrictStr = Field(
        alias="roleID",
        min_length=1,
        max_length=63,
        pattern=ROLE_ID_PATTERN,
        description="A role id from spec.roles.",
    )
    service_ids: list[ServiceId] = Field(
        alias="serviceIDs",
        max_length=MAX_SERVICES,
        description="Service ids from spec.services.",
    )


class AppConfig(WireModel):
    """Which roles are active and which services each one runs."""

    role_services: list[RoleServices] = Field(
        max_length=MAX_ROLES,
        description="For each role, the services its members run.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["roleID"],
        },
    )
    selected_roles: list[RoleId] = Field(
        max_length=MAX_ROLES,
        description="The roles a cluster of this app may have.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    config_meta: dict[str, StrictStr] | None = Field(
        default=None,
        alias="configMeta",
        json_schema_extra=NULLABLE,
        description="Free key/value settings passed to the setup scripts in configmeta.json.",
    )


class AppSpec(OpenWireModel):
    """What an app type is: its images, roles, services and setup."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.config.selectedRoles.all(r, self.roles.exists(x, x.id == r))",
                    "message": "every entry of config.selectedRoles must be the id of a role "
                    "in spec.roles",
                },
                {
                    "rule": "has(self.defaultImageRepoTag) || "
                    "self.roles.all(r, has(r.imageRepoTag))",
                    "message": "every role needs an image: set spec.defaultImageRepoTag or "
                    "the imageRepoTag of each role",
                },
                {
                    "rule": "self.config.roleServices.all(rs, "
                    "self.roles.exists(x, x.id == rs.roleID))",
                    "message": "every roleID in config.roleServices must be the id of a role "
                    "in spec.roles",
                },
            ]
        }
    )

    label: Label = Field(description="Human-readable name and description of the app.")
    distro_id: StrictStr = Field(
        alias="distroID",
        min_length=1,
        description="Identifies a series of versions of the same app (e.g. bluedata/spark245).",
    )
    version: StrictStr = Field(
        min_length=1, description="The release of the app within its distro."
    )
    config_schema_version: StrictInt = Field(
        alias="configSchemaVersion",
        ge=7,
        description="Version of the configmeta.json schema the setup scripts expect (7 or later).",
    )
    default_image_repo_tag: StrictStr | None = Field(
        default=None,
        min_length=1,
        description="Container image of roles that do not name their own.",
    )
    default_config_package: SetupPackage | None = Field(
        default=None,
        json_schema_extra=NULLABLE,
        description="Setup package of roles that do not name their own; null means none.",
    )
    default_persist_dirs: list[PersistDir] | None = Field(
        default=None,
        description="Persistent directories of roles that do not list their own.",
    )
    default_event_list: list[EventName] | None = Field(
        default=None,
        description="Lifecycle events handled by roles that do not list their own.",
    )
    services: list[AppService] | None = Field(
        default=None,
        max_length=MAX_SERVICES,
        description="The services the app's members may run.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    roles: list[AppRole] = Field(
        max_length=MAX_ROLES,
        description="The roles of the app.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    config: AppConfig = Field(description="Active roles and the services of each role.")
    capabilities: list[Annotated[StrictStr, Field(min_length=1)]] | None = Field(
        default=None,
        description="Linux capabilities added to the app containers (e.g. SYS_RESOURCE).",
    )
    systemd_required: StrictBool | None = Field(
        default=None, description="True when the image runs systemd as its init."
    )
    logo_url: StrictStr | None = Field(
        default=None,
        alias="logoURL",
        min_length=1,
        pattern=LOGO_URL_PATTERN,
        description="URL of the app's logo (.png or .jpeg).",
    )
    default_max_log_size_dump: StrictInt | None = Field(
        default=None,
        ge=0,
        description="How many bytes of setup-script output to keep, for roles that do not say.",
    )


class KubeDirectorApp(Resource):
    """A KubeDirector app type: images, roles, services and setup, described once."""

    KIND: ClassVar[str] = "KubeDirectorApp"

    api_version: Literal["kubedirector.hpe.com/v1beta1"] = Field(
        alias="apiVersion", description=f"Always {API_VERSION!r}."
    )
    kind: Literal["KubeDirectorApp"] = Field(description="Always 'KubeDirectorApp'.")
    spec: AppSpec = Field(description="The app type.")

    def role(self, role_id: str) -> AppRole | None:
        """Return the app role with this id, or None."""
        return next((role for role in self.spec.roles if role.id == role_id), None)

    @property
    def role_ids(self) -> list[str]:
        """The ids of the app's roles, in order."""
        return [role.id for role in self.spec.roles]

    @property
    def service_ids(self) -> list[str]:
        """The ids of the app's services, in order."""
        return [service.id for service in self.spec.services or []]

    def resolved_role(self, role_id: str) -> AppRole | None:
        """Return the role with the app-wide defaults filled in, as KubeDirector applies them.

        Image, setup package, persistent directories, event list and log size
        come from the ``default*`` fields of the spec when the role has none.
        """
        role = self.role(role_id)
        if role is None:
            return None
        spec = self.spec
        fields_set = role.model_fields_set
        update: dict[str, Any] = {}
        if role.image_repo_tag is None:
            update["image_repo_tag"] = spec.default_image_repo_tag
        if "config_package" not in fields_set:
            update["config_package"] = spec.default_config_package
        if role.persist_dirs is None and spec.default_persist_dirs is not None:
            update["persist_dirs"] = list(spec.default_persist_dirs)
        if role.event_list is None and spec.default_event_list is not None:
            update["event_list"] = list(spec.default_event_list)
        if role.max_log_size_dump is None and spec.default_max_log_size_dump is not None:
            update["max_log_size_dump"] = spec.default_max_log_size_dump
        return role.model_copy(update=update)
