# The other hosts of the compose labs: LAN clients with miniupnpc and natpmpc, coturn's
# STUN server and natdiscovery client, iproute2 (a LAN host's default route goes to the
# gateway), and our probe and hole-punching scripts (docker/tools/).
#   docker build -f docker/tools.Dockerfile -t openigd-tools .
FROM node:24-bookworm-slim
COPY docker/offline/debs/tools/ /tmp/debs/
RUN set -e; \
    if ls /tmp/debs/*.deb >/dev/null 2>&1; then \
      apt-get install -y -q --no-install-recommends /tmp/debs/*.deb; \
    else \
      apt-get update -q && apt-get install -y -q --no-install-recommends miniupnpc natpmpc coturn iproute2; \
    fi; \
    rm -rf /tmp/debs /var/lib/apt/lists/*
COPY docker/tools/ /opt/tools/
ENTRYPOINT ["/opt/tools/lan-host.sh"]
CMD ["sleep", "infinity"]
