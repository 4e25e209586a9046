//! What is deployed beside k8sensus: the overlay of the project's kustomization that deploys
//! the client-go reference's image (built and imported by bench/cluster.py, which hands this
//! program its name).

use std::path::{Path, PathBuf};

use super::deployment::{DEPLOYMENT, IMPLS};
use super::paths::relative_path;
use crate::support::REPO;
use crate::support::lease::LEASE;

/// The project's kustomization, into namespace client-go, with the reference's image and
/// arguments: every other field (RBAC, strategy, probes, resources, security) as shipped.
/// Returns the overlay's folder, under `work`.
pub fn client_go_overlay(work: &Path, image: &str) -> std::io::Result<PathBuf> {
    let d = work.join("client-go-overlay");
    std::fs::create_dir_all(&d)?;
    let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
    let ns = IMPLS[1].ns;
    let repo = relative_path(Path::new(REPO), &d);
    std::fs::write(
        d.join("kustomization.yaml"),
        format!(
            "\
# The benchmark's cluster part: the project's kustomization (namespace, RBAC, Deployment,
# Service, PDB), deployed into its own namespace with the client-go reference's image and
# arguments.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ns}
resources:
  - {repo}
images:
  - name: k8sensus
    newName: {name}
    newTag: \"{tag}\"
patches:
  - target: {{kind: Deployment, name: {DEPLOYMENT}}}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value:
          - --lease-name={LEASE}
          - --lease-namespace=$(POD_NAMESPACE)
          - --probe-addr=:8080
"
        ),
    )?;
    Ok(d)
}
