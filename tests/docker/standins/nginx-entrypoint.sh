#!/bin/bash
# The official image's 20-envsubst-on-templates.sh: every
# /etc/nginx/templates/X.template becomes /etc/nginx/conf.d/X, with only the
# variables whose names match NGINX_ENVSUBST_FILTER substituted.
set -euo pipefail
templates=/etc/nginx/templates out=/etc/nginx/conf.d
if [ -d "$templates" ]; then
  mkdir -p "$out"
  filter=${NGINX_ENVSUBST_FILTER:-}
  vars=$(printf '${%s} ' $(env | cut -d= -f1 | grep -E "${filter:-.}" || true))
  for t in "$templates"/*.template; do
    [ -e "$t" ] || continue
    envsubst "$vars" <"$t" >"$out/$(basename "$t" .template)"
  done
fi
exec "$@"
