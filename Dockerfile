# Orthanc 1.12 with Sentinel, on the same Debian trixie packages as the runtime that the tests use
# (scripts/runtime-packages.txt, read by both; mmdebstrap installs no Recommends, so neither do we;
# the runtime adds scripts/test-packages.txt, the tests' tools, which the image does without).
#   docker build -t sentinel . && docker run -p 8042:8042 -p 4242:4242 -v orthanc-db:/var/lib/orthanc/db sentinel
# EXTRA_PACKAGES adds Debian packages: docker-compose.yml adds the cluster's PostgreSQL and HAProxy (the
# same packages the runtime's scripts/test-packages.txt gives the cluster tests), so that one image runs
# every service of the cluster.
FROM debian:trixie
ARG EXTRA_PACKAGES=""
COPY scripts/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && { sed 's/#.*//' /tmp/runtime-packages.txt; echo $EXTRA_PACKAGES; } | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && mkdir -p /var/lib/orthanc/db /var/cache/sentinel/numba
COPY LICENSE orthanc.json sentinel.py /opt/sentinel/
COPY validators /opt/sentinel/validators
COPY plugin /opt/sentinel/plugin
# Compile the numba kernels into the image's cache, so that a container starts warm.
RUN NUMBA_CACHE_DIR=/var/cache/sentinel/numba python3 -c \
    "import sys; sys.path.insert(0, '/opt/sentinel'); from validators.warmup import warm_up; warm_up()"
EXPOSE 8042 4242
VOLUME /var/lib/orthanc/db
CMD ["Orthanc", "/opt/sentinel/orthanc.json"]
