#!/usr/bin/env bash
# Roll out a release: the migration Job runs to completion first, then the Deployments roll.
#   deploy/k8s/rollout.sh [OVERLAY]   (default: deploy/k8s/overlays/production)
# Roll back with `kubectl -n fte rollout undo deployment/fte-api deployment/fte-worker`:
# migrations only expand, so the previous release runs on the new schema (docs/runbook.md).
set -euo pipefail
overlay="${1:-$(dirname "$0")/overlays/production}"
ns=fte

kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
kubectl -n "$ns" get secret fte-secrets >/dev/null || {
  echo "secret fte-secrets is missing in namespace $ns: see deploy/k8s/secret.example.yaml" >&2
  exit 1
}

# A Job's pod template cannot change, so each release's migration is a new Job.
kubectl -n "$ns" delete job fte-migrate --ignore-not-found --wait=true
kubectl apply -k "$overlay" -l fte/phase=migrate
kubectl -n "$ns" wait --for=condition=complete job/fte-migrate --timeout=15m || {
  echo "migration failed; nothing was rolled out. Its log:" >&2
  kubectl -n "$ns" logs job/fte-migrate --tail=50 >&2 || true
  exit 1
}

kubectl apply -k "$overlay"
kubectl -n "$ns" rollout status deployment/fte-api --timeout=10m
kubectl -n "$ns" rollout status deployment/fte-worker --timeout=10m
