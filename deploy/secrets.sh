#!/usr/bin/env bash
# Generate the compose fleet's secrets (deploy/compose.yaml) in DIR
# (default: deploy/secrets next to this script). Existing files are kept,
# so running it again changes nothing; delete a file to make a new one.
#
#   deploy/secrets.sh [DIR]        # `make secrets` and `make up` run it
#
# DIR is made readable by its owner only. Each file holds one value; the
# services read them as compose secrets under /run/secrets, never from
# their environment or command line:
#   mongo_root_password       MongoDB's root user (root), for the health check and admin
#   mongo_keyfile             the replica set's internal authentication key
#   mongo_taskfleet_password  the taskfleet user (readWrite on the taskfleet database)
#   store_uri                 the workers' store URI, with that user's password
#   nats_password             the NATS user taskfleet's password, for the clients
#   nats_auth.conf            the NATS server's authorization block, with the same password
#   grafana_admin_password    Grafana's admin password
set -euo pipefail

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets}"
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

# random N: N random bytes as hex (safe in URIs and NATS configuration).
random() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# put NAME VALUE: write the file unless it exists. Files are 0644 in a
# 0700 directory: only the owner reaches them on the host, and the
# containers' users (mongodb, 10001, grafana) can read their bind mounts.
put() {
	local f="$dir/$1"
	[[ -s "$f" ]] && return 0
	printf '%s\n' "$2" >"$f.tmp"
	chmod 644 "$f.tmp"
	mv "$f.tmp" "$f"
	echo "secrets: wrote $f" >&2
}

put mongo_root_password "$(random 24)"
put mongo_taskfleet_password "$(random 24)"
put mongo_keyfile "$(od -An -tx1 -N256 /dev/urandom | tr -d ' \n' | fold -w 76)"
put store_uri "mongodb://taskfleet:$(tr -d '\n' <"$dir/mongo_taskfleet_password")@mongo:27017/?replicaSet=rs0&authSource=admin"
put nats_password "$(random 24)"
put nats_auth.conf "authorization { user: taskfleet, password: \"$(tr -d '\n' <"$dir/nats_password")\" }"
put grafana_admin_password "$(random 18)"
