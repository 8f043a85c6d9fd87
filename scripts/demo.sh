#!/usr/bin/env bash
# The main job: the local control plane up, its nodes listed, an example workload running.
# Run through `make demo`, which puts the project's virtualenv on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

kubedirector dev up --nodes 3 --gpu-nodes 1
eval "$(kubedirector dev env)"

echo; echo "== nodes"
kubectl get nodes -L nvidia.com/gpu.product

echo; echo "== a sample StatefulSet with persistent volumes"
kubectl apply -f "$here/deploy/examples/sample-statefulset.yaml"
kubectl rollout status statefulset/sample --timeout=120s
kubectl get pods,pvc -l app=sample -o wide

echo; echo "== exec into a member: it runs in that pod's own directory"
kubectl exec sample-0 -- sh -c 'echo "hello from $KD_POD_NAME" > hello.txt; pwd; cat hello.txt'

echo
echo "The control plane keeps running. Use it with:  eval \"\$(.venv/bin/kubedirector dev env)\""
echo "Stop it with:                                   make down"
