# syntax=docker/dockerfile:1
# One image for every cloud part: `pika nats`, `pika gateway`, `pika persister`,
# `pika migrate`. The binary is static (CGO_ENABLED=0): the DJ-only parts that
# could need cgo are not in it (rekordbox's SQLCipher is decrypted in pure Go,
# and the Wails desktop window is built only with -tags desktop).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/pika ./cmd/pika \
 && /out/pika version

# distroless/static: no shell, no package manager, user 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pika /usr/local/bin/pika
USER 65532:65532
# 3000 dancers (gateway), 4222 NATS clients, 6222 NATS routes, 8080 NATS
# WebSocket (DJs' leaf links), 8222 NATS monitoring, 9090 metrics.
EXPOSE 3000 4222 6222 8080 8222 9090
# Each service overrides the URL it checks (compose); this default fits a gateway.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/pika", "health", "http://127.0.0.1:3000/healthz"]
ENTRYPOINT ["/usr/local/bin/pika"]
CMD ["gateway"]
