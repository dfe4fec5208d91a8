# syntax=docker/dockerfile:1
# Two images from one source tree (`make docker-build` builds both):
#   --target selector  the injected sidecar: the selector-only binary (cmd/promptfolio-selector), entrypoint
#                      /promptfolio-selector; about half the resident memory of the full binary.
#   --target manager   (the default, last stage) the full binary, entrypoint /promptfolio.
# Both binaries are static (CGO_ENABLED=0) and run as the non-root user 65532 of distroless.

FROM golang:1.26 AS source
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ENV CGO_ENABLED=0

FROM source AS build-selector
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -o /out/promptfolio-selector ./cmd/promptfolio-selector

FROM source AS build-manager
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -o /out/promptfolio .

FROM gcr.io/distroless/static:nonroot AS selector
COPY --from=build-selector /out/promptfolio-selector /promptfolio-selector
USER 65532:65532
ENTRYPOINT ["/promptfolio-selector"]

FROM gcr.io/distroless/static:nonroot AS manager
COPY --from=build-manager /out/promptfolio /promptfolio
USER 65532:65532
ENTRYPOINT ["/promptfolio"]
