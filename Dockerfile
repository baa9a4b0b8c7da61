# vocals-bridge container image.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t vocals-bridge .
# Build stage: a static binary (no cgo), time zones embedded for
# provider_time_zone, the version injected.
# The build stage runs on the builder's platform and cross-compiles for the
# target's, so a multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS=linux TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY bridge/ bridge/
COPY schemas/ schemas/
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/vocals-bridge ./bridge/cmd/vocals-bridge \
 && mkdir -p /out/data

# Runtime stage: nothing but the binary, CA certificates (for TLS to NATS)
# and an empty data directory owned by the non-root user.
FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="vocals-bridge" \
      org.opencontainers.image.description="Suno API callbacks to CloudEvents on NATS JetStream" \
      org.opencontainers.image.source="https://github.com/vocals-bridge/vocals-bridge" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/vocals-bridge /vocals-bridge
COPY --from=build --chown=65532:65532 /out/data /data
ENV VOCALS_BRIDGE_DATA_DIR=/data
# The spool and the embedded NATS store live here: give it a volume.
VOLUME ["/data"]
USER 65532:65532
# 8080: public (callbacks, schemas); 8081: admin (health, readiness, metrics).
EXPOSE 8080 8081
ENTRYPOINT ["/vocals-bridge"]
