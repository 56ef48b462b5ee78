# syntax=docker/dockerfile:1
#
# taskfleet image: the dispatcher and worker binaries plus examples/ and
# python/ (the task-context helper the example program imports).
#
#   docker build -t taskfleet .
#   docker run --rm taskfleet worker --help
#   docker run --rm taskfleet dispatcher help
#
# The runtime is Alpine rather than distroless on purpose:
#   - compose health checks need an HTTP client inside the container
#     (busybox wget probes the worker's /healthz and the exporter's /readyz);
#   - workers run the programs registered on them (--program, --programs),
#     and the example program (examples/program/train.py) needs python3.
#     Drop it, or add what your own models need, with
#     --build-arg RUNTIME_PACKAGES="...".
# The binaries are static (CGO_ENABLED=0), so they run on any base image.

ARG GO_VERSION=1.26.8
ARG ALPINE_VERSION=3.22

# ---- build ----
FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Module downloads are cached across builds, and this layer only changes
# with go.mod and go.sum.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/dispatcher ./cmd/worker

# ---- runtime ----
FROM alpine:${ALPINE_VERSION}
ARG RUNTIME_PACKAGES="python3"
# tini is PID 1: it forwards SIGTERM to the binary (the worker drains on
# it) and reaps the processes of programs whose worker died.
RUN apk add --no-cache ca-certificates tini ${RUNTIME_PACKAGES} \
    && addgroup -S -g 10001 taskfleet \
    && adduser -S -D -H -u 10001 -G taskfleet -h /opt/taskfleet -s /sbin/nologin taskfleet \
    && mkdir -p /opt/taskfleet/out /opt/taskfleet/.taskfleet \
    && chown taskfleet:taskfleet /opt/taskfleet/out /opt/taskfleet/.taskfleet
COPY --from=build /out/dispatcher /out/worker /usr/local/bin/
COPY examples/ /opt/taskfleet/examples/
COPY python/ /opt/taskfleet/python/
# Programs files name example files relative to the repository root
# ("examples/program/train.py", which imports ../../python), so the
# working directory mirrors it.
# out/ (mount a volume there for results) and .taskfleet/, where the default
# embedded store (sqlite://.taskfleet/tasks.db) lives, are the only writable
# directories, owned by the runtime user.
WORKDIR /opt/taskfleet
USER 10001:10001
# 9090: worker --metrics-addr as configured in deploy/compose.yaml;
# 9091: dispatcher exporter's default --metrics-addr.
EXPOSE 9090 9091
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["worker", "--help"]
