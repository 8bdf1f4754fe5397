//! Certificates for a TLS deployment, made with rcgen on the operator's machine: a CA, one
//! certificate per node (its name and addresses in the subject alternative names, usable
//! as server and as client certificate, since nodes dial each other on the bus), and one
//! for the operator (the tool itself and `redis-cli --tls`). The CA key stays in the data
//! directory: nodes only get the CA certificate, their own certificate and their own key.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::files::{write_private, write_public};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// The CA, loaded or made.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    dir: PathBuf,
}

/// A certificate and its key, in PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params(deployment: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(
        DnType::CommonName,
        format!("ferrodis-provision CA ({deployment})"),
    );
    p.distinguished_name
        .push(DnType::OrganizationName, "ferrodis-provision");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2044, 1, 1);
    Ok(p)
}

impl Ca {
    /// The CA of `dir` (`ca.crt`, `ca.key`), made on first use. An existing CA keeps its
    /// key; its certificate object is rebuilt from the same parameters (same subject and
    /// key), so what it signs chains to the `ca.crt` on disk.
    pub fn load_or_create(dir: &Path, deployment: &str) -> Result<Ca, PkiError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| PkiError::Io(p, e)
        };
        crate::files::private_dir(dir).map_err(io(dir))?;
        let key_path = dir.join("ca.key");
        let cert_path = dir.join("ca.crt");
        let params = ca_params(deployment)?;
        if key_path.exists() && cert_path.exists() {
            let pem = fs::read_to_string(&key_path).map_err(io(&key_path))?;
            let key = KeyPair::from_pem(&pem)?;
            let cert = params.self_signed(&key)?;
            return Ok(Ca {
                cert,
                key,
                dir: dir.to_path_buf(),
            });
        }
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        write_private(&key_path, key.serialize_pem().as_bytes()).map_err(io(&key_path))?;
        write_public(&cert_path, cert.pem().as_bytes()).map_err(io(&cert_path))?;
        Ok(Ca {
            cert,
            key,
            dir: dir.to_path_buf(),
        })
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn cert_pem(&self) -> Result<String, PkiError> {
        let p = self.cert_path();
        fs::read_to_string(&p).map_err(|e| PkiError::Io(p, e))
    }

    /// A certificate for `cn` naming `sans` (IP addresses and DNS names), usable as server
    /// and client certificate. Kept in `<dir>/<file>.crt` / `.key` with the names it was
    /// made for beside it: reissued only when the names change.
    pub fn issue(&self, file: &str, cn: &str, sans: &[String]) -> Result<Issued, PkiError> {
        let crt = self.dir.join(format!("{file}.crt"));
        let key = self.dir.join(format!("{file}.key"));
        let names = self.dir.join(format!("{file}.names"));
        let wanted = sans.join("\n");
        if let (Ok(c), Ok(k), Ok(n)) = (
            fs::read_to_string(&crt),
            fs::read_to_string(&key),
            fs::read_to_string(&names),
        ) {
            if n == wanted {
                return Ok(Issued {
                    cert_pem: c,
                    key_pem: k,
                });
            }
        }
        let mut p = CertificateParams::new(sans.to_vec())?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "ferrodis-provision");
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.use_authority_key_identifier_extension = true;
        let kp = KeyPair::generate()?;
        let cert = p.signed_by(&kp, &self.cert, &self.key)?;
        let issued = Issued {
            cert_pem: cert.pem(),
            key_pem: kp.serialize_pem(),
        };
        write_private(&key, issued.key_pem.as_bytes()).map_err(|e| PkiError::Io(key.clone(), e))?;
        write_public(&crt, issued.cert_pem.as_bytes()).map_err(|e| PkiError::Io(crt.clone(), e))?;
        write_public(&names, wanted.as_bytes()).map_err(|e| PkiError::Io(names.clone(), e))?;
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::test_dir;

    #[test]
    fn ca_persists_and_issues_chaining_certificates() {
        let dir = test_dir("pki");
        let ca = Ca::load_or_create(&dir, "t").expect("ca");
        let ca_pem = ca.cert_pem().expect("ca pem");
        let a = ca
            .issue("node-1", "node-1", &["node-1".into(), "10.0.1.10".into()])
            .expect("issue");
        // Same names: the same files come back.
        let again = ca
            .issue("node-1", "node-1", &["node-1".into(), "10.0.1.10".into()])
            .expect("again");
        assert_eq!(a.cert_pem, again.cert_pem);
        // A reloaded CA signs certificates that chain to the first ca.crt.
        drop(ca);
        let ca2 = Ca::load_or_create(&dir, "t").expect("reload");
        assert_eq!(ca2.cert_pem().expect("pem"), ca_pem);
        let b = ca2
            .issue("node-1", "node-1", &["node-1".into(), "10.0.1.11".into()])
            .expect("reissue");
        assert_ne!(a.cert_pem, b.cert_pem);
        for leaf in [&a, &b] {
            crate::resp::Connector::tls_config(&ca_pem, &leaf.cert_pem, &leaf.key_pem)
                .expect("usable as a client certificate");
            verify_chain(&ca_pem, &leaf.cert_pem, "10.0.1.10");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |f: &str| {
                fs::metadata(dir.join(f))
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0)
            };
            assert_eq!(mode("ca.key"), 0o600);
            assert_eq!(mode("node-1.key"), 0o600);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    /// The leaf verifies against the CA as a server certificate (webpki, as rustls does).
    fn verify_chain(ca_pem: &str, leaf_pem: &str, _ip: &str) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("ca der");
        let leaf = CertificateDer::from_pem_slice(leaf_pem.as_bytes()).expect("leaf der");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("root");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider,
        )
        .build()
        .expect("verifier");
        use rustls::client::danger::ServerCertVerifier;
        let name = rustls::pki_types::ServerName::try_from("node-1").expect("name");
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], rustls::pki_types::UnixTime::now())
            .expect("chains to the CA");
    }
}
