#!/bin/sh
# Entrypoint of the lab's other hosts: with GATEWAY set, the default route goes to the
# OpenIGD gateway's address on this host's network (Docker gives an internal network
# none), then the command runs.
set -e
if [ -n "$GATEWAY" ]; then ip route replace default via "$GATEWAY"; fi
exec "$@"
