#!/usr/bin/env python3
"""The container images the one-node cluster runs, built here, offline, and cached.

    images.py build      build (or find cached) every image; print two lines on stdout:
                         "pause <archive>" and "k8sensus <archive>"
    images.py client-go-ref BINARY
                         the benchmark's client-go reference (bench/client-go-ref, a static
                         Go binary) on the distroless stand-in; print one line on stdout:
                         "client-go-ref <archive> <image name>"

Four images, each cached under ~/.cache/k8sensus/images/ as a docker-archive tarball whose
file name carries a hash of everything that went into it, so a second run with nothing
changed reuses it and any change rebuilds only what depends on it:

  gcr.io/distroless/cc-debian12:nonroot   stand-in for the Dockerfile's runtime base: the
                                          files of bookworm's libc6, libgcc-s1, libstdc++6,
                                          libgomp1, libssl3, tzdata, netbase, base-files and
                                          ca-certificates .debs (what distroless is made of),
                                          a CA bundle, and user/group nonroot = 65532
  rust:1.95-slim-bookworm                 stand-in for the Dockerfile's builder base: an
                                          mmdebstrap bookworm with gcc and libc6-dev, this
                                          machine's Rust toolchain, and a copy of the cargo
                                          registry for Cargo.lock (see OFFLINE below)
  registry.k8s.io/pause:3.10              the pod sandbox, pause.c from the k8s.io/kubernetes
                                          module, gcc -Os -static
  k8sensus:0.1.0                          the project's Dockerfile, unchanged, built by
                                          `buildah bud --pull=never --layers`

and, for `make bench-cluster` only (bench/cluster.py), an assembled image:

  client-go-ref:<key>                     the static client-go-ref binary at /client-go-ref
                                          on the distroless stand-in above (the same base as
                                          k8sensus:0.1.0), user 65532; the tag is its cache key

OFFLINE: the Dockerfile runs `cargo build --locked`, which would fetch crates. We copy this
machine's cargo registry (index cache and .crate files, after `cargo fetch --locked` for the
one target we build) into the builder base and set CARGO_NET_OFFLINE=true there, and every
RUN step runs with --network=none. The alternative, --network=host so cargo reaches
crates.io, would give the build the host's network: builds would depend on the registry
being up, and nothing we start may send packets beyond loopback. Offline, the build is
reproducible from what is on this machine, and a missing crate is a clear cargo error.

Buildah keeps its own storage under ~/.cache/k8sensus/buildah (not /var/lib/containers), so
its `--layers` cache survives between runs: an edit under src/ reuses the dependency layer.
One lock serializes image builds. Progress goes to stderr with a heartbeat every 20 s.
As root, the build runs in a private mount namespace of its own (`unshare --mount`), so an
interrupted build leaves no buildah mount on the host.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "control-plane"))
import controlplane as cp  # noqa: E402  (PKI, cache root, heartbeat, Fatal)

Fatal = cp.Fatal

DISTROLESS = "gcr.io/distroless/cc-debian12:nonroot"
RUST = "rust:1.95-slim-bookworm"
PAUSE = "registry.k8s.io/pause:3.10"
APP = "k8sensus:0.1.0"  # the image deployment.yaml names

DEBIAN_SUITE = "bookworm"
DISTROLESS_DEBS = ["libc6", "libgcc-s1", "libstdc++6", "libgomp1", "libssl3", "tzdata",
                   "netbase", "base-files", "ca-certificates"]
RUST_DEBS = ["ca-certificates", "gcc", "libc6-dev"]
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg: str) -> None:
    print(f"[images] {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    return cp.cache_root().parent / "images"


def storage_opts() -> list[str]:
    base = cp.cache_root().parent / "buildah"
    return ["--root", str(base / "root"), "--runroot", str(base / "run"),
            "--storage-driver", "overlay"]


def buildah(*args: str, capture: bool = True) -> str:
    proc = subprocess.run(["buildah", *storage_opts(), *args], capture_output=capture,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise Fatal(f"buildah {' '.join(args)} failed (exit {proc.returncode}):\n"
                    f"{(proc.stdout or '')}{(proc.stderr or '')}")
    return (proc.stdout or "").strip()


def long_step(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    t0 = time.monotonic()
    cp.run_with_heartbeat(cmd, cwd or REPO, dict(os.environ), what, env_shown="")
    TIMES.append((what, time.monotonic() - t0))


TIMES: list[tuple[str, float]] = []


def sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def require(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise Fatal(f"missing {', '.join(missing)}: run `make deps` as root "
                    "(Debian packages buildah mmdebstrap gcc)")


# ---------------------------------------------------------------------------
# helpers on buildah containers
# ---------------------------------------------------------------------------


def from_rootfs(rootfs: Path, image: str, config: list[str]) -> None:
    """Commit a one-layer image named `image` holding rootfs (owners kept)."""
    ctr = buildah("from", "scratch")
    try:
        mnt = Path(buildah("mount", ctr))
        subprocess.run(f"tar -C {rootfs} -cf - . | tar -C {mnt} --same-owner -xpf -",
                       shell=True, check=True)
        buildah("umount", ctr)
        buildah("config", *config, ctr)
        buildah("commit", "--rm", "--format", "docker", ctr, image)
    except BaseException:
        subprocess.run(["buildah", *storage_opts(), "rm", ctr], capture_output=True)
        raise


def have_image(image: str) -> bool:
    return subprocess.run(["buildah", *storage_opts(), "inspect", "--type", "image", image],
                          capture_output=True).returncode == 0


def save(image: str, name: str, archive: Path) -> None:
    """docker-archive with an explicit name: containerd imports it under that name."""
    tmp = archive.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    buildah("push", "--quiet", image, f"docker-archive:{tmp}:{name}")
    os.replace(tmp, archive)


def load(archive: Path, image: str) -> None:
    """Put a cached base image back into buildah's storage (a new buildah root)."""
    buildah("pull", "--quiet", "--policy=missing", f"docker-archive:{archive}")
    if not have_image(image):
        raise Fatal(f"loading {archive} did not give {image}")


# ---------------------------------------------------------------------------
# the images
# ---------------------------------------------------------------------------


def apt_uris(pkgs: list[str]) -> str:
    """The exact .deb files apt would download: their names carry the versions."""
    out = subprocess.run(["apt-get", "download", "--print-uris", *pkgs], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise Fatal(f"apt-get download --print-uris {' '.join(pkgs)} failed:\n{out.stderr}"
                    "\n(run `apt-get update` once, as `make deps` does)")
    return "\n".join(sorted(line.split()[1] for line in out.stdout.splitlines() if line))


def build_distroless(work: Path) -> None:
    debs = work / "debs"
    root = work / "rootfs"
    debs.mkdir()
    root.mkdir()
    long_step(["apt-get", "download", *DISTROLESS_DEBS], "download the distroless .debs",
              cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    # The CA bundle: what update-ca-certificates would write, from the package's certs.
    certs = sorted((root / "usr/share/ca-certificates").rglob("*.crt"))
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(c.read_bytes().rstrip(b"\n") + b"\n" for c in certs))
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")
    for d, mode, owner in (("home/nonroot", 0o700, 65532), ("tmp", 0o1777, 0),
                           ("root", 0o700, 0)):
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
        os.chown(root / d, owner, owner)
    from_rootfs(root, DISTROLESS, ["--user", "65532", "--workingdir", "/home/nonroot",
                                   "--env", f"PATH={PATH_ENV}",
                                   "--env", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"])


def rust_toolchain() -> tuple[Path, str]:
    sysroot = Path(subprocess.run(["rustc", "--print", "sysroot"], capture_output=True,
                                  text=True, check=True).stdout.strip())
    version = subprocess.run([sysroot / "bin/rustc", "-vV"], capture_output=True, text=True,
                             check=True).stdout
    if "release: 1.95." not in version:
        raise Fatal(f"the Dockerfile pins Rust 1.95; this machine's rustc is:\n{version}")
    return sysroot, version


def build_rust(work: Path, sysroot: Path, debian_tar: Path) -> None:
    root = work / "rootfs"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "--same-owner", "-xpf", str(debian_tar)],
                   check=True)
    rel = sysroot.name  # e.g. 1.95.0-x86_64-unknown-linux-gnu
    tc = root / "usr/local/rustup/toolchains" / rel
    tc.mkdir(parents=True)
    for sub in ("bin", "lib"):
        shutil.copytree(sysroot / sub, tc / sub, symlinks=True)
    cargo_bin = root / "usr/local/cargo/bin"
    cargo_bin.mkdir(parents=True)
    for tool in os.listdir(tc / "bin"):
        os.symlink(f"/usr/local/rustup/toolchains/{rel}/bin/{tool}", cargo_bin / tool)
    # The registry: index cache and .crate files, enough for `cargo build --locked` offline.
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    for sub in ("index", "cache"):
        shutil.copytree(home / "registry" / sub, root / "usr/local/cargo/registry" / sub,
                        symlinks=True)
    from_rootfs(root, RUST, [
        "--env", "RUSTUP_HOME=/usr/local/rustup",
        "--env", "CARGO_HOME=/usr/local/cargo",
        "--env", f"PATH=/usr/local/cargo/bin:{PATH_ENV}",
        "--env", f"RUST_VERSION={rel.split('-')[0]}",
        "--env", "CARGO_NET_OFFLINE=true",
    ])


def debian_rootfs(cache: Path, key: str) -> Path:
    """mmdebstrap bookworm (minbase + gcc, libc6-dev), cached as a tarball."""
    tar = cache / f"debian-{DEBIAN_SUITE}-{key}.tar"
    if tar.exists():
        return tar
    tmp = tar.with_suffix(".tmp.tar")
    long_step(["mmdebstrap", "--variant=minbase", f"--include={','.join(RUST_DEBS)}",
               "--quiet", DEBIAN_SUITE, str(tmp)], "mmdebstrap the builder's Debian rootfs")
    os.replace(tmp, tar)
    return tar


def build_pause(work: Path) -> None:
    src = cp_module_file("build/pause/linux/pause.c")
    out = work / "rootfs"
    out.mkdir()
    subprocess.run(["gcc", "-Os", "-static", "-Wall", "-Werror", "-DVERSION=3.10",
                    "-o", str(out / "pause"), str(src)], check=True)
    subprocess.run(["strip", str(out / "pause")], check=True)
    from_rootfs(out, PAUSE, ["--entrypoint", '["/pause"]', "--user", "65535:65535"])


def cp_module_file(rel: str) -> Path:
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                                env={**os.environ, "GOTOOLCHAIN": "local"}).stdout.strip()
    p = Path(gomodcache) / f"k8s.io/kubernetes@{cp.K8S_VERSION}" / rel
    if not p.exists():
        # The module is in the cache after the control plane build; download it if not.
        subprocess.run(["go", "mod", "download", f"k8s.io/kubernetes@{cp.K8S_VERSION}"],
                       cwd=cp.MODULE_DIR, check=True,
                       env={**os.environ, "GOTOOLCHAIN": "local"})
    if not p.exists():
        raise Fatal(f"{p} not found in the Go module cache")
    return p


def app_inputs_hash() -> str:
    h = hashlib.sha256()
    for f in ("Dockerfile", ".dockerignore", "Cargo.toml", "Cargo.lock"):
        h.update(f.encode() + b"\0" + (REPO / f).read_bytes() + b"\0")
    h.update(tree_hash(REPO / "src").encode())
    return h.hexdigest()[:16]


def ensure(name: str, image: str, key: str, builder, in_storage: bool = False) -> Path:
    """The archive for image: from the cache, or built (and then cached).

    in_storage: the image must also be in buildah's storage (a base image the
    Dockerfile build is about to use).
    """
    archive = cache_dir() / f"{name}-{key}.tar"
    if archive.exists():
        log(f"{image}: cached ({archive.name})")
        if in_storage and not have_image(image):
            log(f"{image}: loading the cached archive into buildah's storage")
            load(archive, image)
        return archive
    log(f"{image}: building (cache key {key})")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"k8sensus-img-{name}-") as work:
        builder(Path(work))
    save(image, image, archive)
    elapsed = time.monotonic() - t0
    TIMES.append((f"image {image}", elapsed))
    log(f"{image}: built in {cp.fmt_elapsed(elapsed)} -> {archive}")
    return archive


def build_app(_work: Path) -> None:
    """buildah bud, showing each Dockerfile STEP as it starts, with a heartbeat."""
    cmd = ["buildah", *storage_opts(), "bud", "--pull=never", "--layers", "--network=none",
           "--format", "docker", "-t", APP, "-f", "Dockerfile", "."]
    what = "buildah bud the Dockerfile (dependencies, then the crate)"
    t0 = time.monotonic()

    def show_step(line: str) -> None:
        # "[1/2] STEP 4/6: RUN ...", "--> Using cache ...", "COMMIT k8sensus:0.1.0"
        if "STEP " in line[:12] or line.startswith(("COMMIT", "--> Using cache")):
            log(f"  [{cp.fmt_elapsed(time.monotonic() - t0)}] {line.strip()[:110]}")

    cp.run_with_heartbeat(cmd, REPO, dict(os.environ), what, env_shown="",
                          on_line=show_step, tail=60)
    TIMES.append((what, time.monotonic() - t0))


def build_all() -> tuple[Path, Path]:
    require("buildah", "mmdebstrap", "gcc", "apt-get", "dpkg-deb")
    if os.geteuid() != 0:
        raise Fatal("building the images needs root (buildah with its own storage)")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another process is building the images; waiting for it ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        t0 = time.monotonic()
        pause_src = cp_module_file("build/pause/linux/pause.c").read_bytes()
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
        pause = ensure("pause", PAUSE, sha(pause_src, gcc, "v1"), build_pause)

        # Keys first: when the app's archive exists, no base image is touched.
        sysroot, rustc_vv = rust_toolchain()
        distroless_key = sha(",".join(DISTROLESS_DEBS), apt_uris(DISTROLESS_DEBS), "v1")
        debian_key = sha(DEBIAN_SUITE, ",".join(RUST_DEBS), apt_uris(RUST_DEBS))
        rust_key = sha(rustc_vv, debian_key, (REPO / "Cargo.lock").read_bytes(), "v1")
        app_key = sha(app_inputs_hash(), distroless_key, rust_key)
        app_archive = cache / f"k8sensus-{app_key}.tar"
        if not app_archive.exists():
            ensure("distroless", DISTROLESS, distroless_key, build_distroless, in_storage=True)
            # The crates for the one target the image builds, into this machine's registry.
            subprocess.run(["cargo", "fetch", "--locked", "--target",
                            "x86_64-unknown-linux-gnu"], cwd=REPO, check=True,
                           stdin=subprocess.DEVNULL)

            def rust_builder(work: Path) -> None:
                build_rust(work, sysroot, debian_rootfs(cache, debian_key))
            ensure("rust", RUST, rust_key, rust_builder, in_storage=True)
        app = ensure("k8sensus", APP, app_key, build_app)
        log(f"images ready in {cp.fmt_elapsed(time.monotonic() - t0)}")
    return pause, app


CLIENT_GO_REF = "client-go-ref"


def build_client_go_ref(binary: Path) -> tuple[Path, str]:
    """The client-go reference as an image: its static binary copied onto the distroless
    stand-in. Cached by the binary's own hash and the base's key. Returns (archive, name)."""
    require("buildah", "apt-get")
    if os.geteuid() != 0:
        raise Fatal("building the images needs root (buildah with its own storage)")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    distroless_key = sha(",".join(DISTROLESS_DEBS), apt_uris(DISTROLESS_DEBS), "v1")
    key = sha(hashlib.sha256(binary.read_bytes()).hexdigest(), distroless_key, "v1")
    name = f"{CLIENT_GO_REF}:{key}"
    archive = cache / f"{CLIENT_GO_REF}-{key}.tar"
    if archive.exists():  # written whole (os.replace), so no lock is needed to use it
        log(f"{name}: cached ({archive.name})")
        return archive, name
    with open(cache / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another process is building the images; waiting for it ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.exists():
            log(f"{name}: cached ({archive.name})")
            return archive, name
        ensure("distroless", DISTROLESS, distroless_key, build_distroless, in_storage=True)
        t0 = time.monotonic()
        ctr = buildah("from", "--pull=never", DISTROLESS)
        try:
            buildah("copy", "--chown", "0:0", "--chmod", "0755", ctr, str(binary), "/client-go-ref")
            buildah("config", "--entrypoint", '["/client-go-ref"]', "--user", "65532",
                    ctr)
            buildah("commit", "--rm", "--format", "docker", ctr, name)
        except BaseException:
            subprocess.run(["buildah", *storage_opts(), "rm", ctr], capture_output=True)
            raise
        save(name, name, archive)
        log(f"{name}: assembled in {cp.fmt_elapsed(time.monotonic() - t0)} -> {archive}")
        return archive, name


def main(argv: list[str]) -> int:
    if argv[1:] != ["build"] and not (len(argv) == 3 and argv[1] == CLIENT_GO_REF):
        print(__doc__, file=sys.stderr)
        return 2
    # Buildah mounts overlays (and its storage) while it works. Run in a private mount
    # namespace of our own, so that a build interrupted at any point leaves no mount on
    # the host: they all go when this process does.
    if os.geteuid() == 0 and os.environ.get("K8SENSUS_IMAGES_MOUNT_NS") != "1" \
            and shutil.which("unshare"):
        os.environ["K8SENSUS_IMAGES_MOUNT_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                              sys.executable, str(Path(__file__).resolve()), *argv[1:]])
    try:
        if argv[1] == CLIENT_GO_REF:
            archive, name = build_client_go_ref(Path(argv[2]).resolve())
            print(f"{CLIENT_GO_REF} {archive} {name}", flush=True)
            return 0
        pause, app = build_all()
    except Fatal as e:
        log(f"error: {e}")
        return 1
    except subprocess.CalledProcessError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    for what, secs in TIMES:
        log(f"time: {what}: {secs:.1f}s")
    print(f"pause {pause}")
    print(f"k8sensus {app}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
