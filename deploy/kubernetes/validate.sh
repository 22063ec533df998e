#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes schemas with kubernetes-validate (PyPI),
# installed into a throwaway virtualenv. Exits non-zero when a manifest is invalid.
#   deploy/kubernetes/validate.sh            # the default Kubernetes version of kubernetes-validate
#   K8S_VERSION=1.30.0 deploy/kubernetes/validate.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${KV_VENV:-${TMPDIR:-/tmp}/surge-kubernetes-validate}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate
fi
args=(--strict)
[ -n "${K8S_VERSION:-}" ] && args+=(-k "$K8S_VERSION")
# kustomization.yaml is kustomize's, not a Kubernetes resource: validate the resources it lists.
files=()
for f in "$here"/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || files+=("$f")
done
"$venv/bin/kubernetes-validate" "${args[@]}" "${files[@]}"
echo "kubernetes manifests valid: ${files[*]##*/}"
