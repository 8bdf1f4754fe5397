//! TLS with rustls: the client port (`tls-port`), the cluster bus (`tls-cluster`), and
//! certificate reload.
//!
//! The `tls-*` directives are turned into rustls configurations by [`build`]; the result
//! ([`Contexts`]) is swapped atomically in [`Tls`]: a new handshake takes the current
//! configuration, an established connection keeps the one it started with. `CONFIG SET` of a
//! `tls-*` directive rebuilds it (and is refused, with the old configuration kept, when the
//! new one does not load), and [`Tls::poll_files`] rebuilds it when a certificate, key or CA
//! file changes on disk (the cron calls it once a second).
//!
//! Where rustls has no equivalent of an OpenSSL knob: TLSv1 and TLSv1.1 do not exist (a
//! `tls-protocols` naming only those is refused), `tls-ciphers`/`tls-ciphersuites` select
//! among the suites rustls implements by their OpenSSL names, `tls-dh-params-file` is
//! accepted and unused (rustls only does ECDHE), `tls-session-cache-timeout` is stored (rustls
//! keeps sessions until the cache evicts them).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;

/// `tls-auth-clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthClients {
    No,
    Yes,
    Optional,
}

/// `tls-cluster-peer-verify` (beyond Redis): what a bus link's certificate must name besides
/// being signed by the cluster CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerVerify {
    /// Only the CA signature (Redis's behaviour).
    None,
    /// The certificate's subject alternative names must include the peer's IP address (inbound:
    /// the address the link comes from; outbound: the address dialled).
    Address,
    /// The certificate's subject alternative names must include, as a DNS name, the node id
    /// every message on an inbound link claims as its sender.
    NodeId,
}

/// The `tls-*` directives, read from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub port: u16,
    pub cluster: bool,
    pub replication: bool,
    pub cert_file: String,
    pub key_file: String,
    pub key_file_pass: String,
    pub client_cert_file: String,
    pub client_key_file: String,
    pub client_key_file_pass: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    pub auth_clients: AuthClients,
    pub protocols: String,
    pub ciphers: String,
    pub ciphersuites: String,
    pub prefer_server_ciphers: bool,
    pub session_caching: bool,
    pub session_cache_size: usize,
    pub peer_verify: PeerVerify,
}

impl TlsOptions {
    pub fn from_config(cfg: &Config) -> TlsOptions {
        let s = |name: &str| cfg.get_str(name).unwrap_or_default();
        let yes = |name: &str| s(name) == "yes";
        TlsOptions {
            port: s("tls-port").parse().unwrap_or(0),
            cluster: yes("tls-cluster"),
            replication: yes("tls-replication"),
            cert_file: s("tls-cert-file"),
            key_file: s("tls-key-file"),
            key_file_pass: s("tls-key-file-pass"),
            client_cert_file: s("tls-client-cert-file"),
            client_key_file: s("tls-client-key-file"),
            client_key_file_pass: s("tls-client-key-file-pass"),
            ca_cert_file: s("tls-ca-cert-file"),
            ca_cert_dir: s("tls-ca-cert-dir"),
            auth_clients: match s("tls-auth-clients").as_str() {
                "no" => AuthClients::No,
                "optional" => AuthClients::Optional,
                _ => AuthClients::Yes,
            },
            protocols: s("tls-protocols"),
            ciphers: s("tls-ciphers"),
            ciphersuites: s("tls-ciphersuites"),
            prefer_server_ciphers: yes("tls-prefer-server-ciphers"),
            session_caching: yes("tls-session-caching"),
            session_cache_size: s("tls-session-cache-size").parse().unwrap_or(20 * 1024),
            peer_verify: match s("tls-cluster-peer-verify").as_str() {
                "address" => PeerVerify::Address,
                "node-id" => PeerVerify::NodeId,
                _ => PeerVerify::None,
            },
        }
    }

    /// TLS is in use: Redis configures it when any of these is set.
    pub fn enabled(&self) -> bool {
        self.port != 0 || self.cluster || self.replication
    }

    /// The files whose change on disk triggers a reload.
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = [
            &self.cert_file,
            &self.key_file,
            &self.client_cert_file,
            &self.client_key_file,
            &self.ca_cert_file,
        ]
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .collect();
        if !self.ca_cert_dir.is_empty() {
            out.push(PathBuf::from(&self.ca_cert_dir));
            if let Ok(rd) = std::fs::read_dir(&self.ca_cert_dir) {
                let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                files.sort();
                out.extend(files);
            }
        }
        out
    }
}

/// The rustls configurations built from one [`TlsOptions`].
#[derive(Debug)]
pub struct Contexts {
    /// Client connections on `tls-port` (client authentication per `tls-auth-clients`).
    pub clients: Arc<ServerConfig>,
    /// Inbound bus links: a certificate signed by the CA is always required.
    pub bus_server: Option<Arc<ServerConfig>>,
    /// Outbound bus links (`tls-client-cert-file` or else `tls-cert-file`).
    pub bus_client: Option<Arc<ClientConfig>>,
    pub peer_verify: PeerVerify,
}

/// Rebuilds everything from the options. The error is the reason, for the log.
pub fn build(o: &TlsOptions) -> Result<Contexts, String> {
    if o.cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    if o.key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    let has_ca = !o.ca_cert_file.is_empty() || !o.ca_cert_dir.is_empty();
    if (o.auth_clients != AuthClients::No || o.cluster || o.replication) && !has_ca {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let versions = parse_protocols(&o.protocols)?;
    let suites = select_suites(&o.ciphers, &o.ciphersuites)?;
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..ring::default_provider()
    });
    let certs = load_certs(&o.cert_file, "tls-cert-file")?;
    let key = load_key(&o.key_file, &o.key_file_pass, "tls-key-file")?;
    let roots = if has_ca {
        Some(Arc::new(load_roots(&o.ca_cert_file, &o.ca_cert_dir)?))
    } else {
        None
    };

    let server_config = |auth: AuthClients| -> Result<Arc<ServerConfig>, String> {
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("Failed to configure tls-protocols: {e}"))?;
        let builder = match (&roots, auth) {
            (Some(roots), AuthClients::Yes) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                    .build()
                    .map_err(|e| format!("Failed to load CA certificates: {e}"))?,
            ),
            (Some(roots), AuthClients::Optional) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| format!("Failed to load CA certificates: {e}"))?,
            ),
            _ => builder.with_no_client_auth(),
        };
        let mut cfg = builder
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| {
                format!("Failed to load certificate/key (tls-cert-file, tls-key-file): {e}")
            })?;
        cfg.ignore_client_order = o.prefer_server_ciphers;
        cfg.session_storage = if o.session_caching {
            let size = if o.session_cache_size == 0 {
                1 << 20
            } else {
                o.session_cache_size
            };
            rustls::server::ServerSessionMemoryCache::new(size)
        } else {
            Arc::new(rustls::server::NoServerSessionStorage {})
        };
        Ok(Arc::new(cfg))
    };
    let clients = server_config(o.auth_clients)?;

    let (bus_server, bus_client) = match (&roots, o.cluster || o.replication) {
        (Some(roots), true) => {
            let bus_server = server_config(AuthClients::Yes)?;
            let (ccerts, ckey) = if o.client_cert_file.is_empty() {
                (certs.clone(), key.clone_key())
            } else {
                if o.client_key_file.is_empty() {
                    return Err("No tls-client-key-file configured!".into());
                }
                (
                    load_certs(&o.client_cert_file, "tls-client-cert-file")?,
                    load_key(
                        &o.client_key_file,
                        &o.client_key_file_pass,
                        "tls-client-key-file",
                    )?,
                )
            };
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                roots.clone(),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("Failed to load CA certificates: {e}"))?;
            let verifier: Arc<dyn ServerCertVerifier> = match o.peer_verify {
                PeerVerify::Address => inner,
                // The dialling side does not know the peer's id: the peer's inbound check on
                // the sender id covers the messages it receives.
                PeerVerify::None | PeerVerify::NodeId => Arc::new(ChainOnly(inner)),
            };
            let client = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&versions)
                .map_err(|e| format!("Failed to configure tls-protocols: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_client_auth_cert(ccerts, ckey)
                .map_err(|e| format!("Failed to load client certificate/key: {e}"))?;
            (Some(bus_server), Some(Arc::new(client)))
        }
        _ => (None, None),
    };
    Ok(Contexts {
        clients,
        bus_server,
        bus_client,
        peer_verify: o.peer_verify,
    })
}

/// `tls-protocols`: space separated, case-insensitive `TLSv1 TLSv1.1 TLSv1.2 TLSv1.3`
/// (empty: TLSv1.2 and TLSv1.3, Redis's default).
pub fn parse_protocols(spec: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut v12 = false;
    let mut v13 = false;
    let mut legacy = false;
    for p in spec.split_ascii_whitespace() {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1" | "tlsv1.1" => legacy = true,
            "tlsv1.2" => v12 = true,
            "tlsv1.3" => v13 = true,
            _ => return Err(format!("Invalid tls-protocols specified: {p}")),
        }
    }
    if !v12 && !v13 {
        if legacy {
            return Err(
                "tls-protocols: TLSv1 and TLSv1.1 are not supported (only TLSv1.2 and TLSv1.3 are)"
                    .into(),
            );
        }
        v12 = true;
        v13 = true;
    }
    let mut out = Vec::new();
    if v13 {
        out.push(&rustls::version::TLS13);
    }
    if v12 {
        out.push(&rustls::version::TLS12);
    }
    Ok(out)
}

/// OpenSSL names of the suites rustls (ring) implements.
const SUITE_NAMES: &[(&str, rustls::CipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

fn suite_by_name(name: &str) -> Option<rustls::CipherSuite> {
    SUITE_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, s)| *s)
}

/// Applies one OpenSSL-style list (`a:b:!c`, keywords like `DEFAULT` or `HIGH` select every
/// suite) to the suites of one protocol version. Unknown names are skipped as OpenSSL does;
/// a list that selects nothing is an error.
fn apply_list(
    list: &str,
    directive: &str,
    all: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, String> {
    if list.is_empty() {
        return Ok(all.to_vec());
    }
    let mut chosen: Vec<rustls::CipherSuite> = Vec::new();
    let mut removed: Vec<rustls::CipherSuite> = Vec::new();
    let everything: Vec<rustls::CipherSuite> = all.iter().map(|s| s.suite()).collect();
    for item in list.split([':', ',', ' ']).filter(|s| !s.is_empty()) {
        let (neg, name) = match item.strip_prefix(['!', '-']) {
            Some(n) => (true, n),
            None => (false, item.trim_start_matches('+')),
        };
        let hits: Vec<rustls::CipherSuite> = match suite_by_name(name) {
            Some(s) => vec![s],
            None if matches!(
                name.to_ascii_uppercase().as_str(),
                "DEFAULT" | "ALL" | "HIGH" | "ECDHE" | "EECDH" | "AESGCM" | "SECURE"
            ) =>
            {
                everything.clone()
            }
            None => Vec::new(),
        };
        for s in hits.into_iter().filter(|s| everything.contains(s)) {
            if neg {
                removed.push(s);
            } else if !chosen.contains(&s) {
                chosen.push(s);
            }
        }
    }
    let out: Vec<SupportedCipherSuite> = chosen
        .iter()
        .filter(|s| !removed.contains(s))
        .filter_map(|s| all.iter().find(|x| x.suite() == *s).copied())
        .collect();
    if out.is_empty() {
        return Err(format!("Failed to configure {directive}: {list}"));
    }
    Ok(out)
}

/// `tls-ciphers` (TLSv1.2 suites) and `tls-ciphersuites` (TLSv1.3 suites).
fn select_suites(ciphers: &str, ciphersuites: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = ring::default_provider().cipher_suites;
    let (v13, v12): (Vec<SupportedCipherSuite>, Vec<SupportedCipherSuite>) = all
        .iter()
        .partition(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
    let mut out = apply_list(ciphersuites, "ciphersuites", &v13)?;
    out.extend(apply_list(ciphers, "ciphers", &v12)?);
    Ok(out)
}

fn read_file(path: &str, directive: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("Failed to load {directive} {path}: {e}"))
}

fn load_certs(path: &str, directive: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, directive)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("Failed to load {directive} {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "Failed to load {directive} {path}: no certificate found"
        ));
    }
    Ok(certs)
}

/// A private key in PEM (PKCS#8, PKCS#1 or SEC1). An `ENCRYPTED PRIVATE KEY` (PKCS#8 with
/// PBES2) is decrypted with `pass`; the legacy OpenSSL encryption (`Proc-Type: 4,ENCRYPTED`)
/// is refused with a message naming the directive.
fn load_key(path: &str, pass: &str, directive: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file(path, directive)?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "Failed to load {directive} {path}: legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported; convert the key to encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc) for {directive}-pass"
        ));
    }
    if let Some(start) = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let end_marker = "-----END ENCRYPTED PRIVATE KEY-----";
        let end = text[start..]
            .find(end_marker)
            .map(|e| start + e + end_marker.len())
            .ok_or_else(|| format!("Failed to load {directive} {path}: truncated PEM"))?;
        if pass.is_empty() {
            return Err(format!(
                "Failed to load {directive} {path}: the key is encrypted and {directive}-pass is not set"
            ));
        }
        let (_, doc) = pkcs8::Document::from_pem(&text[start..end])
            .map_err(|e| format!("Failed to load {directive} {path}: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| format!("Failed to load {directive} {path}: {e}"))?;
        let plain = info.decrypt(pass.as_bytes()).map_err(|e| {
            format!("Failed to load {directive} {path}: cannot decrypt with {directive}-pass: {e}")
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("Failed to load {directive} {path}: {e}"))
}

fn load_roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if !file.is_empty() {
        for c in load_certs(file, "tls-ca-cert-file")? {
            roots
                .add(c)
                .map_err(|e| format!("Failed to load tls-ca-cert-file {file}: {e}"))?;
        }
    }
    if !dir.is_empty() {
        let rd = std::fs::read_dir(dir)
            .map_err(|e| format!("Failed to load tls-ca-cert-dir {dir}: {e}"))?;
        for entry in rd.flatten() {
            let Ok(pem) = std::fs::read(entry.path()) else {
                continue;
            };
            // Like OpenSSL's hashed directory lookup, files that hold no certificate are
            // ignored.
            for c in CertificateDer::pem_slice_iter(&pem).flatten() {
                let _ = roots.add(c);
            }
        }
    }
    if roots.is_empty() {
        return Err("Failed to configure CA certificate(s) file/directory: no certificate".into());
    }
    Ok(roots)
}

/// Verifies the chain to the cluster CA and ignores the name (Redis does not check host
/// names on the bus); used when `tls-cluster-peer-verify none`.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last: a name error means the chain is
        // good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// True if the certificate's subject alternative names include the DNS name `name`.
pub fn cert_names_dns(cert: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    let Ok(dns) = ServerName::try_from(name) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&dns).is_ok()
}

/// True if the certificate's subject alternative names include `ip`.
pub fn cert_names_ip(cert: &CertificateDer<'_>, ip: IpAddr) -> bool {
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&ServerName::IpAddress(ip.into()))
        .is_ok()
}

/// The server's TLS state: the current configurations, swapped as a whole.
#[derive(Default)]
pub struct Tls {
    current: RwLock<Option<Arc<Contexts>>>,
    /// Options and file stamps the current contexts were built from.
    built: Mutex<Option<(TlsOptions, Stamps)>>,
}

/// Files and their modification times.
type Stamps = Vec<(PathBuf, Option<SystemTime>)>;

fn stamps(files: Vec<PathBuf>) -> Stamps {
    files
        .into_iter()
        .map(|f| {
            let t = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            (f, t)
        })
        .collect()
}

impl Tls {
    /// The configurations for the next handshake, if TLS is configured.
    pub fn contexts(&self) -> Option<Arc<Contexts>> {
        self.current.read().clone()
    }

    /// Builds from `cfg` and swaps atomically (at startup and after CONFIG SET). With TLS not
    /// in use, drops the contexts. On error the previous contexts stay.
    pub fn configure(&self, cfg: &Config) -> Result<(), String> {
        let opts = TlsOptions::from_config(cfg);
        if !opts.enabled() {
            *self.current.write() = None;
            *self.built.lock() = None;
            return Ok(());
        }
        let files = stamps(opts.watched_files());
        let ctx = build(&opts)?;
        *self.current.write() = Some(Arc::new(ctx));
        *self.built.lock() = Some((opts, files));
        Ok(())
    }

    /// Reloads when a certificate, key or CA file changed on disk since the last build (the
    /// cron calls this once a second). A file that does not load is logged and the previous
    /// configuration kept; it is tried again on its next change.
    pub fn poll_files(&self) {
        let mut built = self.built.lock();
        let Some((opts, old)) = built.as_mut() else {
            return;
        };
        let now = stamps(opts.watched_files());
        if now == *old {
            return;
        }
        *old = now;
        match build(opts) {
            Ok(ctx) => {
                *self.current.write() = Some(Arc::new(ctx));
                tracing::info!("TLS certificates reloaded after a file change");
            }
            Err(e) => tracing::warn!("Failed to reload TLS configuration: {e}"),
        }
    }
}

/// Accepts the TLS handshake of a client connection with the current configuration.
pub async fn accept<S>(
    ctx: &Contexts,
    stream: S,
) -> std::io::Result<tokio_rustls::server::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio_rustls::TlsAcceptor::from(ctx.clients.clone())
        .accept(stream)
        .await
}

/// A replica's link to its primary over TLS (`tls-replication yes`): the outbound
/// configuration the bus uses (`tls-client-cert-file` or else `tls-cert-file`, verified
/// against the CA), the primary's certificate checked against `host`.
pub async fn connect_replication(
    tls: &Tls,
    host: &str,
    stream: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let cfg = tls
        .contexts()
        .and_then(|c| c.bus_client.clone())
        .ok_or_else(|| {
            std::io::Error::other("tls-replication needs tls-cert-file, tls-key-file and a CA")
        })?;
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(canonical_ip(ip).into()),
        Err(_) => ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::other(format!("bad primary host name: {e}")))?,
    };
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, stream)
        .await
}

/// The cluster bus over TLS: plugs into the gossip driver's transport.
pub struct BusTls {
    pub tls: Arc<Tls>,
}

impl ferrodis_gossip::driver::Transport for BusTls {
    fn accept(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
    ) -> ferrodis_gossip::driver::BoxFuture<(
        ferrodis_gossip::driver::BoxIo,
        Option<ferrodis_gossip::driver::SenderCheck>,
    )> {
        let ctx = self.tls.contexts();
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| std::io::Error::other("TLS not configured"))?;
            let cfg = ctx
                .bus_server
                .clone()
                .ok_or_else(|| std::io::Error::other("TLS bus not configured"))?;
            let s = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await?;
            if ctx.peer_verify == PeerVerify::Address {
                let ok = s
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .is_some_and(|c| cert_names_ip(c, canonical_ip(peer.ip())));
                if !ok {
                    tracing::warn!(
                        "Refused cluster bus link from {}: its certificate does not name that address",
                        peer.ip()
                    );
                    return Err(std::io::Error::other(
                        "peer certificate does not name the peer",
                    ));
                }
            }
            let check: Option<ferrodis_gossip::driver::SenderCheck> =
                match (ctx.peer_verify, s.get_ref().1.peer_certificates()) {
                    (PeerVerify::NodeId, Some([first, ..])) => {
                        let cert = first.clone().into_owned();
                        Some(Box::new(move |id: &ferrodis_gossip::NodeId| {
                            cert_names_dns(&cert, &id.to_string())
                        }))
                    }
                    (PeerVerify::NodeId, _) => Some(Box::new(|_: &ferrodis_gossip::NodeId| false)),
                    _ => None,
                };
            Ok((Box::new(s) as ferrodis_gossip::driver::BoxIo, check))
        })
    }

    fn connect(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
    ) -> ferrodis_gossip::driver::BoxFuture<ferrodis_gossip::driver::BoxIo> {
        let ctx = self.tls.contexts();
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| std::io::Error::other("TLS not configured"))?;
            let cfg = ctx
                .bus_client
                .clone()
                .ok_or_else(|| std::io::Error::other("TLS bus not configured"))?;
            let name = ServerName::IpAddress(canonical_ip(peer.ip()).into());
            let s = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, stream)
                .await?;
            Ok(Box::new(s) as ferrodis_gossip::driver::BoxIo)
        })
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(parse_protocols("").unwrap().len(), 2);
        assert_eq!(parse_protocols("TLSv1.2").unwrap().len(), 1);
        assert_eq!(parse_protocols("tlsv1.2 TLSv1.3").unwrap().len(), 2);
        assert_eq!(parse_protocols("TLSv1.1 TLSv1.2").unwrap().len(), 1);
        assert!(parse_protocols("TLSv1").unwrap_err().contains("TLSv1.1"));
        assert!(parse_protocols("TLSv1.1").is_err());
        assert!(parse_protocols("TLSv9").unwrap_err().contains("Invalid"));
    }

    #[test]
    fn cipher_lists() {
        let s = select_suites("", "").unwrap();
        assert_eq!(s.len(), ring::default_provider().cipher_suites.len());
        let s = select_suites("ECDHE-RSA-AES256-GCM-SHA384", "TLS_AES_128_GCM_SHA256").unwrap();
        assert_eq!(s.len(), 2);
        let s = select_suites("DEFAULT:!ECDHE-RSA-CHACHA20-POLY1305", "").unwrap();
        assert!(
            !s.iter()
                .any(|x| x.suite()
                    == rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
        );
        assert!(select_suites("BOGUS", "").is_err());
        assert!(select_suites("", "BOGUS").is_err());
    }

    #[test]
    fn missing_files_are_reasons() {
        let mut o = TlsOptions::from_config(&Config::default());
        o.port = 1;
        assert!(build(&o).unwrap_err().contains("tls-cert-file"));
        o.cert_file = "/nonexistent/cert.pem".into();
        o.key_file = "/nonexistent/key.pem".into();
        o.auth_clients = AuthClients::No;
        assert!(build(&o).unwrap_err().contains("/nonexistent/cert.pem"));
        o.auth_clients = AuthClients::Yes;
        assert!(build(&o).unwrap_err().contains("tls-ca-cert-file"));
    }
}
