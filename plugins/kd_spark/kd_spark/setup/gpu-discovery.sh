#!/bin/sh
# Spark GPU discovery script: prints the GPUs this worker may hand to executors,
# as Spark expects: {"name": "gpu", "addresses": ["0", "1"]}.
# Reads the GPUs from nvidia-smi; the GPUs Kubernetes gave the container are the
# only ones it sees.
set -eu
addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null \
    | awk 'NF { printf "%s\"%s\"", sep, $1; sep = "," }')
printf '{"name": "gpu", "addresses": [%s]}\n' "$addresses"
