#!/usr/bin/env bash
# The main job: the local control plane up, the operator running, an example cluster Ready.
# Run through `make demo`, which puts the project's virtualenv on PATH.
#   scripts/demo.sh                  bring everything up and show the example cluster
#   scripts/demo.sh --stop-operator  stop the operator the demo started (used by `make down`)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state=$(python -c 'from kubedirector_core.devcluster.cluster import default_state_dir; print(default_state_dir())')
pidfile="$state/operator.pid"
logfile="$state/operator.log"

operator_running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
        && grep -q kubedirector_core "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null
}

if [ "${1:-}" = "--stop-operator" ]; then
    if operator_running; then
        kill "$(cat "$pidfile")" && echo "stopped the operator (pid $(cat "$pidfile"))"
    fi
    rm -f "$pidfile"
    exit 0
fi

kubedirector dev up --nodes 3 --gpu-nodes 1
eval "$(kubedirector dev env)"

echo; echo "== nodes"
kubectl get nodes -L nvidia.com/gpu.product

echo; echo "== the KubeDirector CRDs and the catalog's apps"
kubectl apply --server-side --force-conflicts -f "$here/deploy/crds/"
kubectl wait --for=condition=Established --timeout=60s \
    crd/kubedirectorclusters.kubedirector.hpe.com crd/kubedirectorapps.kubedirector.hpe.com
kubedirector catalog --catalog "$here/catalog" install --namespace default

echo; echo "== the operator (log: $logfile)"
if operator_running; then
    echo "already running (pid $(cat "$pidfile"))"
else
    nohup python -m kubedirector_core run --kubeconfig "$KUBECONFIG" >>"$logfile" 2>&1 &
    echo $! >"$pidfile"
    echo "started (pid $!)"
fi

echo; echo "== an example cluster: catalog/clusters/kvstore-demo.yaml"
kubectl apply -n default -f "$here/catalog/clusters/kvstore-demo.yaml"
kubectl wait -n default kubedirectorcluster/kvstore-demo --for=condition=Ready --timeout=180s
kubectl get -n default kubedirectorcluster kvstore-demo

echo; echo "== its members: node, state, service endpoints"
CLUSTER=$(kubectl get -n default kubedirectorcluster kvstore-demo -o json) \
CHILDREN=$(kubectl get -n default pods,services -l kubedirector.hpe.com/kdcluster=kvstore-demo -o json) \
python - <<'PY'
import json, os

cluster = json.loads(os.environ["CLUSTER"])
children = json.loads(os.environ["CHILDREN"])["items"]
pods = {item["metadata"]["name"]: item for item in children if item["kind"] == "Pod"}
services = [item for item in children if item["kind"] == "Service"]
row = "{:<30} {:<8} {:<3} {:<12} {:<11} {}"
print(row.format("MEMBER", "ROLE", "ID", "NODE", "STATE", "SERVICE ENDPOINTS"))
for role in cluster["status"]["roles"]:
    for member in role.get("members") or []:
        node = pods.get(member["pod"], {}).get("spec", {}).get("nodeName", "-")
        endpoints = [
            "{}.default.svc:{} ({})".format(service["metadata"]["name"], port["port"], port.get("name", ""))
            for service in services
            if service["spec"].get("selector", {}).get("statefulset.kubernetes.io/pod-name") == member["pod"]
            for port in service["spec"].get("ports") or []
        ]
        print(row.format(member["pod"], role["id"], member.get("nodeID", ""), node,
                         member.get("state", "-"), ", ".join(endpoints)))
headless = [s["metadata"]["name"] for s in services if s["spec"].get("clusterIP") == "None"]
print("\ncluster service (headless): {}.default.svc".format(headless[0] if headless else "-"))
PY

echo; echo "== configmeta.json as the primary received it (its own directory under KWOK)"
primary=$(kubectl get -n default kubedirectorcluster kvstore-demo \
    -o jsonpath='{.status.roles[?(@.id=="primary")].members[0].pod}')
kubectl exec -n default "$primary" -c app -- sh -c 'head -c 600 "$KD_GUEST_ROOT/etc/guestconfig/configmeta.json"; echo " ..."'

echo
echo "The control plane and the operator keep running. Use them with:  eval \"\$(.venv/bin/kubedirector dev env)\""
echo "Resize:  kubectl patch kdcluster kvstore-demo --type=json -p '[{\"op\":\"replace\",\"path\":\"/spec/roles/1/members\",\"value\":4}]'"
echo "Stop everything with:  make down"
