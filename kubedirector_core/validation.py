"""Validation of KubeDirector resources: pure rules that return problems.

Every function here is pure: it takes wire documents (mappings, as read from a
file or received by the admission webhook) plus plain facts about the cluster
state, and returns the typed model (or ``None`` when the document cannot be
one) with a list of :class:`~kubedirector_core.problems.Problem`. Nothing here
raises on bad input, talks to Kubernetes, or keeps state. The command line, the
admission webhook and the reconciler all call these functions, so a mistake
reads the same wherever it is caught.

The rules are those of the original KubeDirector's validator, with messages
that name the field and say what to do; plugins add theirs through
:class:`PluginRules`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pydantic

from kubedirector_core.api import (
    API_VERSION,
    MAX_MEMBERS,
    KubeDirectorApp,
    KubeDirectorCluster,
    KubeDirectorConfig,
    parse_quantity,
)
from kubedirector_core.api.base import Resource, WireModel
from kubedirector_core.api.cluster import ClusterRole
from kubedirector_core.problems import Problem, Severity

__all__ = [
    "KINDS",
    "MAX_PROBLEMS",
    "PluginRules",
    "StorageFacts",
    "check_header",
    "cluster_defaults",
    "has_errors",
    "problems_from_validation_error",
    "validate_app",
    "validate_app_delete",
    "validate_cluster",
    "validate_config",
    "validate_document",
]

#: The kinds this module validates, by wire name.
KINDS: dict[str, type[Resource]] = {
    "KubeDirectorApp": KubeDirectorApp,
    "KubeDirectorCluster": KubeDirectorCluster,
    "KubeDirectorConfig": KubeDirectorConfig,
}

#: Reports stop after this many problems, so a huge broken document stays readable.
MAX_PROBLEMS = 50

ModelT = TypeVar("ModelT", bound=WireModel)


class PluginRules(Protocol):
    """The plugins' validate hooks, as the validator calls them.

    The plugin platform implements this facade over its hooks; each method
    returns the problems every plugin that claims the app reported, with
    ``Problem.source`` naming the plugin. A plugin that raises must be turned
    into a problem by the facade, never propagated.
    """

    def validate_app(self, app: KubeDirectorApp) -> list[Problem]:
        """Problems the plugins find in an app that passed the core's rules."""
        ...

    def validate_cluster(
        self,
        cluster: KubeDirectorCluster,
        app: KubeDirectorApp,
        old: KubeDirectorCluster | None,
    ) -> list[Problem]:
        """Problems the plugins find in a cluster that passed the core's rules."""
        ...


@dataclass(frozen=True)
class StorageFacts:
    """What the validator needs to know about the cluster's StorageClasses.

    ``classes`` are the names that exist; ``default_class`` is the class given
    to roles that name none: KubeDirectorConfig's ``defaultStorageClassName``
    when set, otherwise the StorageClass annotated as the cluster default, or
    ``None`` when there is neither.
    """

    classes: frozenset[str]
    default_class: str | None

    def with_configured_default(self, configured: str | None) -> StorageFacts:
        """These facts with KubeDirectorConfig's ``defaultStorageClassName``, when set, as default.

        The configured class comes before the StorageClass annotated as the
        cluster default, for the admission webhook and the planner alike.
        """
        if configured is None:
            return self
        return StorageFacts(classes=self.classes, default_class=configured)


def has_errors(problems: Iterable[Problem]) -> bool:
    """True when any problem rejects the resource."""
    return any(problem.is_error for problem in problems)


# --------------------------------------------------------------------------
# Paths and pydantic errors


def _key(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if "." in part or "/" in part or not part:
        return f"[{part}]"
    return f".{part}"


def join_path(*parts: str | int) -> str:
    """Join wire path parts: ``join_path("spec", "roles", 1)`` -> ``spec.roles[1]``."""
    return "".join(_key(part) for part in parts).lstrip(".")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_PATTERN_HINTS: dict[str, str] = {
    r"^[0-9]+\+?$": 'must be a number of members, optionally followed by "+" (e.g. "1" or "2+")',
    r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$": "must be letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "must be lower-case letters, digits or '-', "
    "starting and ending with a letter or digit",
    r"^(file|https?)://.+\.tgz$": "must be a file://, http:// or https:// URL of a .tgz file",
    r"^/.*[^/]$": "must be an absolute path that does not end with '/'",
    r"^configure$|^addnodes$|^delnodes$": "must be configure, addnodes or delnodes",
    r"^/.*$": "must be an absolute path",
    r"^https?://.+$": "must be an http:// or https:// URL",
}


def _message(error: Mapping[str, Any]) -> str:
    """Turn one pydantic error into a sentence a person can act on."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return "is not a known field: check its spelling (KubeDirector's names are camelCase)"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {_shown(value)})"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(ctx.get("pattern", ""), f"must match {ctx.get('pattern')}")
        return f"{_shown(value)} {hint}"
    if kind == "string_type":
        return f"must be a string, got {_shown(value)}: put the value in quotes"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, got {_shown(value)}"
    if kind == "bool_type":
        return f"must be true or false, got {_shown(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {_shown(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of fields, got {_shown(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {_shown(value)}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {_shown(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_long":
        return f"has {ctx.get('actual_length')} items; at most {ctx.get('max_length')} are allowed"
    return str(error["msg"])


def problems_from_validation_error(
    error: pydantic.ValidationError, prefix: Sequence[str | int] = ()
) -> list[Problem]:
    """Convert a pydantic ``ValidationError`` into problems with wire paths."""
    problems = []
    for item in error.errors(include_url=False):
        path = join_path(*prefix, *item["loc"])
        problems.append(Problem(path, _message(item)))
    return problems


def _build(model: type[ModelT], document: Mapping[str, Any]) -> tuple[ModelT | None, list[Problem]]:
    try:
        return model.model_validate(document, by_alias=True, by_name=False), []
    except pydantic.ValidationError as error:
        return None, problems_from_validation_error(error)
    except RecursionError:
        return None, [Problem("", "the document is nested too deeply to be a resource")]


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem("", f"... and {rest} more problems")]


# --------------------------------------------------------------------------
# Any resource


def check_header(document: object, kind: str | None = None) -> list[Problem]:
    """Problems with what makes a document a KubeDirector resource at all.

    Checks that it is a mapping with the right ``apiVersion``, a known ``kind``
    (``kind`` when given) and a ``metadata.name``.
    """
    if not isinstance(document, Mapping):
        got = type(document).__name__ if document is not None else "empty"
        return [
            Problem(
                "",
                f"the document is {got}, not a resource: expected a mapping with "
                "apiVersion, kind, metadata and spec",
            )
        ]
    problems = []
    api_version = document.get("apiVersion")
    if api_version is None:
        problems.append(Problem("apiVersion", f"is missing: set apiVersion: {API_VERSION}"))
    elif api_version != API_VERSION:
        problems.append(
            Problem(
                "apiVersion",
                f"{_shown(api_version)} is not a KubeDirector API version: use {API_VERSION}",
            )
        )
    found = document.get("kind")
    expected = [kind] if kind else list(KINDS)
    if found is None:
        problems.append(Problem("kind", f"is missing: set kind to one of {', '.join(expected)}"))
    elif found not in expected:
        problems.append(
            Problem(
                "kind", f"{_shown(found)} is not one of the expected kinds: {', '.join(expected)}"
            )
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, Mapping) or not metadata.get("name"):
        problems.append(Problem("metadata.name", "is missing: every resource needs a name"))
    return problems


def _unknown_field_warnings(model: WireModel, prefix: Sequence[str | int]) -> list[Problem]:
    """Warn about fields kept only because KubeDirector's CRD preserves unknown fields."""
    problems = []
    for name in model.model_extra or {}:
        problems.append(
            Problem(
                join_path(*prefix, name),
                "is not a KubeDirector field: it is kept but nothing reads it; check its spelling",
                Severity.WARNING,
            )
        )
    return problems


# --------------------------------------------------------------------------
# KubeDirectorApp


def _duplicates(values: Sequence[str]) -> list[int]:
    """Indexes of every value that already appeared earlier in ``values``."""
    seen: set[str] = set()
    repeated = []
    for index, value in enumerate(values):
        if value in seen:
            repeated.append(index)
        seen.add(value)
    return repeated


def _app_rules(app: KubeDirectorApp) -> list[Problem]:
    spec = app.spec
    role_ids = app.role_ids
    service_ids = app.service_ids
    known_roles = ", ".join(role_ids) or "(none)"
    known_services = ", ".join(service_ids) or "(none)"
    problems = []
    problems += _unknown_field_warnings(spec, ("spec",))
    problems += _unknown_field_warnings(spec.label, ("spec", "label"))
    for index in _duplicates(role_ids):
        problems.append(
            Problem(
                f"spec.roles[{index}].id",
                f"role id {role_ids[index]!r} is used by another role: role ids must be unique",
            )
        )
    for index in _duplicates(service_ids):
        problems.append(
            Problem(
                f"spec.services[{index}].id",
                f"service id {service_ids[index]!r} is used by another service: "
                "service ids must be unique",
            )
        )
    for index, service in enumerate(spec.services or []):
        problems += _unknown_field_warnings(service, ("spec", "services", index))
        endpoint = service.endpoint
        if endpoint is not None and endpoint.is_dashboard and not endpoint.url_scheme:
            problems.append(
                Problem(
                    f"spec.services[{index}].endpoint.urlScheme",
                    "is required because isDashboard is true: set it (e.g. http) or set "
                    "isDashboard to false",
                )
            )
    selected = spec.config.selected_roles
    for index in _duplicates(selected):
        problems.append(
            Problem(
                f"spec.config.selectedRoles[{index}]",
                f"{selected[index]!r} is listed twice: list each role once",
            )
        )
    for index, role_id in enumerate(selected):
        if role_id not in role_ids:
            problems.append(
                Problem(
                    f"spec.config.selectedRoles[{index}]",
                    f"{role_id!r} is not a role of this app; its roles are: {known_roles}",
                )
            )
    role_services = spec.config.role_services
    for index in _duplicates([entry.role_id for entry in role_services]):
        problems.append(
            Problem(
                f"spec.config.roleServices[{index}].roleID",
                f"{role_services[index].role_id!r} already has an entry: give each role one "
                "entry listing all its services",
            )
        )
    for index, entry in enumerate(role_services):
        if entry.role_id not in role_ids:
            problems.append(
                Problem(
                    f"spec.config.roleServices[{index}].roleID",
                    f"{entry.role_id!r} is not a role of this app; its roles are: {known_roles}",
                )
            )
        for position, service_id in enumerate(entry.service_ids):
            if service_id not in service_ids:
                problems.append(
                    Problem(
                        f"spec.config.roleServices[{index}].serviceIDs[{position}]",
                        f"{service_id!r} is not a service of this app; its services are: "
                        f"{known_services}",
                    )
                )
    for index, role in enumerate(spec.roles):
        where = f"spec.roles[{index}]"
        if role.image_repo_tag is None and spec.default_image_repo_tag is None:
            problems.append(
                Problem(
                    f"{where}.imageRepoTag",
                    f"role {role.id!r} has no image: set its imageRepoTag or "
                    "spec.defaultImageRepoTag",
                )
            )
        spec_of_container = role.container_spec
        if spec_of_container is not None and spec_of_container.tty and not spec_of_container.stdin:
            problems.append(
                Problem(
                    f"{where}.containerSpec.stdin",
                    "must be true because tty is true: a TTY needs stdin",
                )
            )
        if role.min_storage is not None and parse_quantity(role.min_storage.size) <= 0:
            problems.append(Problem(f"{where}.minStorage.size", "must be greater than zero"))
    return problems


def validate_app(
    document: object,
    *,
    old: Mapping[str, Any] | None = None,
    in_use_by: Sequence[str] = (),
    plugin_rules: PluginRules | None = None,
) -> tuple[KubeDirectorApp | None, list[Problem]]:
    """Validate a KubeDirectorApp document.

    ``old`` is the stored app on an update; ``in_use_by`` names the clusters
    that use it (a fact the caller looked up): an app in use may not change
    its spec. Plugin rules run only when the core's rules found no error.
    """
    problems = check_header(document, "KubeDirectorApp")
    if problems:
        return None, problems
    assert isinstance(document, Mapping)
    app, problems = _build(KubeDirectorApp, document)
    if app is None:
        return None, _capped(problems)
    problems = _app_rules(app)
    if old is not None and in_use_by and old.get("spec") != document.get("spec"):
        problems.append(Problem("spec", _in_use_message(app.name, in_use_by, "changed")))
    if plugin_rules is not None and not has_errors(problems):
        problems += plugin_rules.validate_app(app)
    return app, _capped(problems)


def _in_use_message(name: str, clusters: Sequence[str], what: str) -> str:
    return (
        f"app {name!r} cannot be {what} while clusters use it ({', '.join(sorted(clusters))}): "
        "delete those clusters first, or publish the change as a new app"
    )


def validate_app_delete(name: str, in_use_by: Sequence[str]) -> list[Problem]:
    """Problems with deleting app ``name`` while ``in_use_by`` clusters use it."""
    if not in_use_by:
        return []
    return [Problem("", _in_use_message(name, in_use_by, "deleted"))]


# --------------------------------------------------------------------------
# KubeDirectorCluster


def _cardinality_rules(app: KubeDirectorApp, index: int, role: ClusterRole) -> list[Problem]:
    app_role = app.role(role.id)
    if app_role is None or role.members is None:
        return []
    minimum = app_role.min_members
    if app_role.scales_out and role.members < minimum:
        need = f"at least {minimum}"
    elif not app_role.scales_out and role.members != minimum:
        need = f"exactly {minimum}"
    else:
        return []
    return [
        Problem(
            f"spec.roles[{index}].members",
            f"role {role.id!r} asks for {role.members} members but app {app.name!r} allows "
            f"{need} (cardinality {app_role.cardinality!r})",
        )
    ]


def _autoscale_rules(app: KubeDirectorApp, index: int, role: ClusterRole) -> list[Problem]:
    """An autoscaled role must be able to change size within its bounds."""
    app_role = app.role(role.id)
    settings = role.autoscale
    if app_role is None or settings is None or settings.enabled is False:
        return []
    where = f"spec.roles[{index}].autoscale"
    if not app_role.scales_out:
        return [
            Problem(
                where,
                f"role {role.id!r} cannot be autoscaled: app {app.name!r} fixes its cardinality "
                f"at {app_role.cardinality!r}. Remove autoscale from the role (or set "
                "autoscale.enabled: false)",
            )
        ]
    if settings.max_members < app_role.min_members:
        return [
            Problem(
                f"{where}.maxMembers",
                f"role {role.id!r}: autoscale.maxMembers ({settings.max_members}) is below the "
                f"{app_role.min_members} members app {app.name!r} requires (cardinality "
                f"{app_role.cardinality!r}); raise maxMembers to at least {app_role.min_members}",
            )
        ]
    return []


def _resource_rules(app: KubeDirectorApp, index: int, role: ClusterRole) -> list[Problem]:
    where = f"spec.roles[{index}].resources"
    limits = role.resources.limits
    requests = role.resources.requests or {}
    problems = []
    for name, example in (("memory", "4Gi"), ("cpu", "2")):
        if name not in limits:
            problems.append(
                Problem(
                    f"{where}.limits",
                    f"a {name} limit is required: set resources.limits.{name}, e.g. '{example}'",
                )
            )
    for name, value in requests.items():
        if name in limits and parse_quantity(value) > parse_quantity(limits[name]):
            problems.append(
                Problem(
                    join_path("spec", "roles", index, "resources", "requests", name),
                    f"requests {value!r} but the limit is {limits[name]!r}: a request may not "
                    "exceed its limit",
                )
            )
    app_role = app.role(role.id)
    for name, minimum in ((app_role.min_resources or {}) if app_role else {}).items():
        # Kubernetes takes a missing request to equal the limit.
        asked = requests.get(name, limits.get(name, 0))
        if parse_quantity(asked) < parse_quantity(minimum):
            problems.append(
                Problem(
                    join_path("spec", "roles", index, "resources", "requests", name),
                    f"role {role.id!r} requests {name} {asked!r} but app {app.name!r} needs at "
                    f"least {minimum!r}",
                )
            )
    return problems


def _storage_rules(
    app: KubeDirectorApp, index: int, role: ClusterRole, storage: StorageFacts | None
) -> list[Problem]:
    where = f"spec.roles[{index}]"
    problems = []
    app_role = app.role(role.id)
    minimum = app_role.min_storage if app_role else None
    if role.storage is None:
        if minimum is not None and not minimum.ephemeral_mode_supported:
            problems.append(
                Problem(
                    f"{where}.storage",
                    f"role {role.id!r} needs persistent storage of at least {minimum.size!r}: "
                    "set storage.size",
                )
            )
    else:
        size = parse_quantity(role.storage.size)
        if size <= 0:
            problems.append(Problem(f"{where}.storage.size", "must be greater than zero"))
        elif minimum is not None and size < parse_quantity(minimum.size):
            problems.append(
                Problem(
                    f"{where}.storage.size",
                    f"{role.storage.size!r} is less than the {minimum.size!r} app "
                    f"{app.name!r} needs for role {role.id!r}",
                )
            )
        problems += _storage_class_rules(
            f"{where}.storage", role.storage.storage_class_name, storage
        )
    if role.block_storage is not None:
        problems += _storage_class_rules(
            f"{where}.blockStorage", role.block_storage.storage_class_name, storage
        )
    if role.shared_memory is not None and parse_quantity(role.shared_memory) <= 0:
        problems.append(Problem(f"{where}.sharedMemory", "must be greater than zero"))
    return problems


def _storage_class_rules(
    where: str, name: str | None, storage: StorageFacts | None
) -> list[Problem]:
    if storage is None:
        return []
    if name is None:
        if storage.default_class is None:
            return [
                Problem(
                    f"{where}.storageClassName",
                    "is not set and the cluster has no default StorageClass: name a "
                    "StorageClass here or set KubeDirectorConfig's defaultStorageClassName",
                )
            ]
        name = storage.default_class
        if name not in storage.classes:
            return [
                Problem(
                    f"{where}.storageClassName",
                    f"is not set and the default StorageClass {name!r} does not exist: "
                    "name an existing StorageClass",
                )
            ]
        return []
    if name not in storage.classes:
        known = ", ".join(sorted(storage.classes)) or "(none)"
        return [
            Problem(
                f"{where}.storageClassName",
                f"StorageClass {name!r} does not exist; existing classes: {known}",
            )
        ]
    return []


_LABEL_VALUE_MAX = 63


def _label_rules(index: int, role: ClusterRole) -> list[Problem]:
    problems = []
    for field_name, labels in (
        ("podLabels", role.pod_labels),
        ("serviceLabels", role.service_labels),
    ):
        for key, value in (labels or {}).items():
            if len(value) > _LABEL_VALUE_MAX:
                problems.append(
                    Problem(
                        join_path("spec", "roles", index, field_name, key),
                        f"label values may be at most {_LABEL_VALUE_MAX} characters long",
                    )
                )
    return problems


def _members(count: int) -> str:
    return f"{count} member" if count == 1 else f"{count} members"


def _role_list_rules(cluster: KubeDirectorCluster, app: KubeDirectorApp) -> list[Problem]:
    problems = []
    ids = [role.id for role in cluster.spec.roles]
    known = ", ".join(app.role_ids) or "(none)"
    for index in _duplicates(ids):
        problems.append(
            Problem(
                f"spec.roles[{index}].id",
                f"role {ids[index]!r} is listed twice: list each role once",
            )
        )
    for index, role_id in enumerate(ids):
        if app.role(role_id) is None:
            problems.append(
                Problem(
                    f"spec.roles[{index}].id",
                    f"{role_id!r} is not a role of app {app.name!r}; its roles are: {known}",
                )
            )
    for role_id in app.spec.config.selected_roles:
        app_role = app.role(role_id)
        if role_id not in ids and app_role is not None and app_role.min_members > 0:
            problems.append(
                Problem(
                    "spec.roles",
                    f"role {role_id!r} of app {app.name!r} needs at least "
                    f"{_members(app_role.min_members)}: add it to spec.roles",
                )
            )
    total = cluster.total_members
    if total > MAX_MEMBERS:
        problems.append(
            Problem(
                "spec.roles",
                f"the roles ask for {total} members in all; a cluster may have at most "
                f"{MAX_MEMBERS}",
            )
        )
    return problems


def _secret_key_rules(
    cluster: KubeDirectorCluster, old: KubeDirectorCluster | None
) -> list[Problem]:
    problems = []
    for index, role in enumerate(cluster.spec.roles):
        old_role = old.role(role.id) if old else None
        old_values = (
            {key.name: key.encrypted_value for key in (old_role.secret_keys or [])}
            if old_role
            else {}
        )
        for position, key in enumerate(role.secret_keys or []):
            if key.encrypted_value is not None and old_values.get(key.name) != key.encrypted_value:
                problems.append(
                    Problem(
                        f"spec.roles[{index}].secretKeys[{position}].encryptedValue",
                        "is written by the operator: set value instead and leave "
                        "encryptedValue out",
                    )
                )
    return problems


def _secret_prefix_rules(
    cluster: KubeDirectorCluster, old: KubeDirectorCluster | None, prefix: str | None
) -> list[Problem]:
    """Secrets must start with KubeDirectorConfig's ``requiredSecretPrefix``.

    Only secrets named anew are checked (a new cluster, a role added or given
    another secret), so clusters admitted before the prefix was configured
    can still be resized.
    """
    if not prefix:
        return []
    checked: list[tuple[str, str, str | None]] = []
    if cluster.spec.default_secret is not None:
        before = old.spec.default_secret if old is not None else None
        checked.append(
            (
                "spec.defaultSecret.name",
                cluster.spec.default_secret.name,
                before.name if before is not None else None,
            )
        )
    for index, role in enumerate(cluster.spec.roles):
        if role.secret is None:
            continue
        old_role = old.role(role.id) if old is not None else None
        before_secret = old_role.secret if old_role is not None else None
        checked.append(
            (
                f"spec.roles[{index}].secret.name",
                role.secret.name,
                before_secret.name if before_secret is not None else None,
            )
        )
    return [
        Problem(
            path,
            f"Secret {name!r} does not start with {prefix!r}, the prefix KubeDirectorConfig "
            f"requires (requiredSecretPrefix): use a Secret whose name starts with {prefix!r}",
        )
        for path, name, before in checked
        if not name.startswith(prefix) and name != before
    ]


def _pending_notifications(old: KubeDirectorCluster) -> bool:
    status = old.status
    if status is None:
        return False
    if status.notifications:
        return True
    for role in status.roles or []:
        for member in role.members or []:
            if member.state_detail is not None and member.state_detail.pending_notify_cmds:
                return True
    return False


def _change_rules(cluster: KubeDirectorCluster, old: KubeDirectorCluster) -> list[Problem]:
    problems = []
    if cluster.spec.app != old.spec.app:
        problems.append(
            Problem(
                "spec.app",
                "app is immutable: delete and re-create the cluster to change its app",
            )
        )
    if old.spec.app_catalog is not None and cluster.spec.app_catalog != old.spec.app_catalog:
        problems.append(
            Problem(
                "spec.appCatalog",
                "appCatalog is immutable: delete and re-create the cluster to use another catalog",
            )
        )
    live_roles = {role.id for role in (old.status.roles or [])} if old.status else set()
    for index, role in enumerate(cluster.spec.roles):
        old_role = old.role(role.id)
        if role.id not in live_roles or old_role is None:
            continue
        asked = role.model_copy(update={"members": old_role.members}).to_wire()
        live = old_role.to_wire()
        # Autoscale settings steer the member count, so they may change like it.
        asked.pop("autoscale", None)
        live.pop("autoscale", None)
        if asked != live:
            problems.append(
                Problem(
                    f"spec.roles[{index}]",
                    f"role {role.id!r} has members: only its members count may change; "
                    "scale it to 0 first to change anything else",
                )
            )
    if _pending_notifications(old):
        problems.append(
            Problem(
                "spec",
                "members are still being told about the previous change: try again once "
                "status.notifications is empty",
            )
        )
    return problems


def validate_cluster(
    document: object,
    app: KubeDirectorApp | None,
    *,
    old: Mapping[str, Any] | None = None,
    storage: StorageFacts | None = None,
    plugin_rules: PluginRules | None = None,
    required_secret_prefix: str | None = None,
) -> tuple[KubeDirectorCluster | None, list[Problem]]:
    """Validate a KubeDirectorCluster document against its app.

    ``app`` is the app the cluster names, or ``None`` when it is not installed
    (a problem). ``old`` is the stored cluster on an update, status included:
    an update that leaves the spec alone is not checked again. ``storage``
    lets the StorageClass rules run; without it they are skipped (offline).
    ``required_secret_prefix`` (KubeDirectorConfig's) is the prefix the
    names of newly named Secrets must have.
    """
    problems = check_header(document, "KubeDirectorCluster")
    if problems:
        return None, problems
    assert isinstance(document, Mapping)
    cluster, problems = _build(KubeDirectorCluster, document)
    if cluster is None:
        return None, _capped(problems)
    previous = _build(KubeDirectorCluster, old)[0] if old is not None else None
    if previous is not None and previous.spec.to_wire() == cluster.spec.to_wire():
        return cluster, []
    if previous is not None:
        problems += _change_rules(cluster, previous)
    if app is None:
        problems.append(
            Problem(
                "spec.app",
                f"app {cluster.spec.app!r} is not installed: install it "
                f"(kubedirector catalog install {cluster.spec.app}), or, offline, give its file "
                "with --app",
            )
        )
        return cluster, _capped(problems)
    problems += _role_list_rules(cluster, app)
    for index, role in enumerate(cluster.spec.roles):
        problems += _cardinality_rules(app, index, role)
        problems += _autoscale_rules(app, index, role)
        problems += _resource_rules(app, index, role)
        problems += _storage_rules(app, index, role, storage)
        problems += _label_rules(index, role)
    problems += _secret_key_rules(cluster, previous)
    problems += _secret_prefix_rules(cluster, previous, required_secret_prefix)
    if plugin_rules is not None and not has_errors(problems):
        problems += plugin_rules.validate_cluster(cluster, app, previous)
    return cluster, _capped(problems)


def cluster_defaults(
    cluster: KubeDirectorCluster,
    app: KubeDirectorApp,
    *,
    app_catalog: str | None = None,
    service_type: str = "NodePort",
    naming_scheme: str = "CrNameRole",
    storage: StorageFacts | None = None,
) -> list[dict[str, Any]]:
    """JSON patch operations that fill in what the user left out, as KubeDirector does.

    Roles without ``members`` get their app role's minimum; ``appCatalog``
    (when the caller knows where the app was found), ``serviceType`` and
    ``namingScheme`` get the operator's defaults; storage without a class gets
    the default StorageClass. Call it on a cluster that validated.
    """
    patch: list[dict[str, Any]] = []
    spec = cluster.spec
    if spec.app_catalog is None and app_catalog is not None:
        patch.append({"op": "add", "path": "/spec/appCatalog", "value": app_catalog})
    if spec.service_type is None:
        patch.append({"op": "add", "path": "/spec/serviceType", "value": service_type})
    if spec.naming_scheme is None:
        patch.append({"op": "add", "path": "/spec/namingScheme", "value": naming_scheme})
    for index, role in enumerate(spec.roles):
        app_role = app.role(role.id)
        if role.members is None and app_role is not None:
            patch.append(
                {"op": "add", "path": f"/spec/roles/{index}/members", "value": app_role.min_members}
            )
        if (
            role.storage is not None
            and role.storage.storage_class_name is None
            and storage is not None
            and storage.default_class is not None
        ):
            patch.append(
                {
                    "op": "add",
                    "path": f"/spec/roles/{index}/storage/storageClassName",
                    "value": storage.default_class,
                }
            )
    return patch


# --------------------------------------------------------------------------
# KubeDirectorConfig and dispatch


def validate_config(document: object) -> tuple[KubeDirectorConfig | None, list[Problem]]:
    """Validate a KubeDirectorConfig document."""
    problems = check_header(document, "KubeDirectorConfig")
    if problems:
        return None, problems
    assert isinstance(document, Mapping)
    config, problems = _build(KubeDirectorConfig, document)
    return config, _capped(problems)


def validate_document(
    document: object,
    *,
    apps: Mapping[str, KubeDirectorApp] | None = None,
    plugin_rules: PluginRules | None = None,
    required_secret_prefix: str | None = None,
) -> tuple[Resource | None, list[Problem]]:
    """Validate any KubeDirector document, choosing the rules by its kind.

    A cluster is checked against ``apps[cluster.spec.app]``; an app missing
    from ``apps`` is a problem. ``required_secret_prefix`` is as in
    :func:`validate_cluster`.
    """
    problems = check_header(document)
    if problems:
        return None, problems
    assert isinstance(document, Mapping)
    kind = document["kind"]
    if kind == "KubeDirectorApp":
        return validate_app(document, plugin_rules=plugin_rules)
    if kind == "KubeDirectorCluster":
        spec = document.get("spec")
        name = spec.get("app") if isinstance(spec, Mapping) else None
        app = (apps or {}).get(name) if isinstance(name, str) else None
        return validate_cluster(
            document,
            app,
            plugin_rules=plugin_rules,
            required_secret_prefix=required_secret_prefix,
        )
    return validate_config(document)
