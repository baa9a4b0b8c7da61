# vocals-bridge container image.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t vocals-bridge .
# Build stage: a static binary (no cgo), time zones embedded for
# provider_time_zone, the version injected.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY bridge/ bridge/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/vocals-bridge ./bridge/cmd/vocals-bridge \
 && mkdir -p /out/data

# Runtime stage: nothing but the binary, CA certificates (for TLS to NATS)
# and an empty data directory owned by the non-root user.
FROM scratch
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
