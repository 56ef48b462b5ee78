#!/bin/bash
# The mongo service's entrypoint: mongod accepts a keyFile only when it
# owns it with mode 400, and a compose secret keeps the host file's owner
# and mode; so the key is copied where mongod can own it, then the image's
# own entrypoint runs (it creates the root user on first start and drops
# to the mongodb user).
set -euo pipefail
install -m 400 -o mongodb -g mongodb /run/secrets/mongo_keyfile /data/configdb/keyfile
exec docker-entrypoint.sh "$@"
