# Dockerfile: the k8sensus image, built in two stages.
#
#   builder  the Rust toolchain compiles the release binary
#   runtime  a distroless base with only the binary, glibc, libgcc and CA certificates:
#            no shell, no package manager, nothing for an intruder to use
#
# For kind (README.md explains the archive: `kind load docker-image` fails when Docker uses
# its containerd image store):
#   docker build -t k8sensus:0.1.0 .
#   docker image save --platform "linux/$(docker version --format '{{.Server.Arch}}')" \
#     -o k8sensus-0.1.0.tar k8sensus:0.1.0
#   kind load image-archive k8sensus-0.1.0.tar --name k8sensus
#
# Both cargo build lines below must stay identical to CARGO_BUILD_RELEASE in the Makefile,
# so the image and `make` build the same thing; hack/lint.sh checks it.

# ---- builder ---------------------------------------------------------------------------
# The tag pins the Rust release and the Debian release. Bookworm is Debian 12, the same
# release as the runtime image below, so the binary links against the glibc it will run
# with (a binary built against a newer glibc can fail to start on an older one).
FROM rust:1.95-slim-bookworm AS builder

WORKDIR /build

# Step 1: the dependencies, on their own layer.
# Docker reuses a layer until one of the files copied before it changes. Copying only the
# manifest and lockfile here, and compiling every dependency against stub sources, means
# an edit under src/ does not throw away this slow step: only adding or upgrading a
# dependency does. The crate is a library plus a binary, so both roots get a stub.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin k8sensus

# Step 2: the real sources.
# COPY keeps each file's modification time from your checkout, which can be older than
# the stub build above. Cargo decides what to rebuild by comparing those times, so without
# the touch it could keep the stub and ship a binary that does nothing.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin k8sensus

# ---- runtime ---------------------------------------------------------------------------
# "cc" is the distroless variant that carries glibc and libgcc, which a Rust binary links
# against; TLS is rustls, so no OpenSSL is needed. The ":nonroot" tag runs as UID 65532.
FROM gcr.io/distroless/cc-debian12:nonroot

# Standard OCI annotations, shown by `docker inspect` and registries.
# Keep the version in step with Cargo.toml and the image tag in deployment.yaml.
LABEL org.opencontainers.image.title="k8sensus" \
      org.opencontainers.image.description="Kubernetes Lease leader election in Rust, a teaching demo" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /build/target/release/k8sensus /usr/local/bin/k8sensus

# Numeric, so Kubernetes can verify runAsNonRoot without looking the name up. The base
# image already sets this user; writing it here makes the choice visible in this file.
USER 65532:65532

# Exec form: k8sensus runs as PID 1 with no shell in between, so it receives the SIGTERM
# that Kubernetes sends and can release the Lease before exiting. (The kernel gives PID 1
# no default signal handling; that is fine because k8sensus installs its own handler.)
# The flags come from the pod's args in deployment.yaml.
ENTRYPOINT ["/usr/local/bin/k8sensus"]
