//! TLS end to end: ferrodis with `tls-port` driven by the stock `redis-cli --tls` and
//! `openssl s_client`, certificates made here with rcgen (CA, server, client, expired,
//! another CA, self-signed). Certificate reload by CONFIG SET and by file change, and a
//! three-primary cluster with `tls-cluster yes` and `port 0`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferrodis_tests::cluster::{redis_cli, wait_for, CliOutput};
use ferrodis_tests::server::{ferrodis_binary, find_on_path, free_port, TempDir};
use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

// ---------------------------------------------------------------------------------------
// Certificates

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("ca key");
    let cert = p.self_signed(&key).expect("ca cert");
    Ca { cert, key }
}

/// A leaf for `names` (IP addresses or DNS names), usable as server and client certificate.
fn leaf_params(cn: &str, names: &[&str]) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<String>>())
            .expect("leaf params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p
}

/// (cert PEM, key PEM) signed by `ca`.
fn leaf(ca: &Ca, cn: &str, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let cert = leaf_params(cn, names)
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("sign leaf");
    (cert.pem(), key.serialize_pem())
}

fn expired_leaf(ca: &Ca, cn: &str) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let mut p = leaf_params(cn, &["127.0.0.1", "localhost"]);
    p.not_before = date_time_ymd(2019, 1, 1);
    p.not_after = date_time_ymd(2020, 1, 1);
    let cert = p.signed_by(&key, &ca.cert, &ca.key).expect("sign leaf");
    (cert.pem(), key.serialize_pem())
}

fn self_signed_leaf(cn: &str) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let cert = leaf_params(cn, &["127.0.0.1", "localhost"])
        .self_signed(&key)
        .expect("self-signed");
    (cert.pem(), key.serialize_pem())
}

/// The files of one test: a CA, the server's certificate, a client certificate, and bad ones.
struct Pki {
    dir: TempDir,
    ca: Ca,
}

/// Paths of a certificate and its key.
#[derive(Clone)]
struct Pair {
    cert: String,
    key: String,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("tls");
        let ca = make_ca("ferrodis test CA");
        let pki = Pki { dir, ca };
        pki.write("ca.crt", &pki.ca.cert.pem());
        pki
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {p}: {e}"));
        p
    }

    fn ca_file(&self) -> String {
        self.path("ca.crt")
    }

    fn save(&self, name: &str, (cert, key): (String, String)) -> Pair {
        Pair {
            cert: self.write(&format!("{name}.crt"), &cert),
            key: self.write(&format!("{name}.key"), &key),
        }
    }

    fn leaf(&self, name: &str) -> Pair {
        self.save(name, leaf(&self.ca, name, &["127.0.0.1", "localhost"]))
    }
}

// ---------------------------------------------------------------------------------------
// Processes

/// A ferrodis-server started by this test, stopped by pid on drop.
struct Node {
    child: Child,
    dir: TempDir,
    tls_port: u16,
}

impl Node {
    /// Starts ferrodis with `args` (after `--dir`, `--save ""`) and waits until `ready` holds.
    fn spawn(args: &[String]) -> Result<Node, String> {
        let dir = TempDir::new("tls-node");
        let log =
            std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let tls_port = args
            .iter()
            .position(|a| a == "--tls-port")
            .and_then(|i| args.get(i + 1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let child = Command::new(ferrodis_binary())
            .args(["--dir", dir.as_str(), "--save", "", "--bind", "127.0.0.1"])
            .args(["--protected-mode", "no", "--logfile", ""])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        Ok(Node {
            child,
            dir,
            tls_port,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Waits until the process exits (it refused its configuration); its log.
    fn wait_exit(mut self, deadline: Duration) -> (bool, String) {
        let until = Instant::now() + deadline;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return (st.success(), self.log());
            }
            assert!(
                Instant::now() < until,
                "server did not exit; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for PING over TLS. False if the node exited because its port was taken
    /// meanwhile (another test's process can bind a port `free_port` found free): the caller
    /// starts it again on another port.
    fn wait_ready(&mut self, pki: &Pki, client: &Pair) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let out = tls_cli(self.tls_port, pki, Some(client), &["PING"]);
            if out.stdout.trim() == "PONG" {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                let log = self.log();
                if log.contains("Address already in use") {
                    return false;
                }
                panic!("ferrodis exited at start; log:\n{log}");
            }
            assert!(
                Instant::now() < until,
                "ferrodis did not answer PING over TLS; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// `redis-cli -p port --tls --cacert ca [--cert --key] args...`.
fn tls_cli(port: u16, pki: &Pki, client: Option<&Pair>, args: &[&str]) -> CliOutput {
    let mut a = s(&["-p", &port.to_string(), "--tls", "--cacert", &pki.ca_file()]);
    if let Some(c) = client {
        a.extend(s(&["--cert", &c.cert, "--key", &c.key]));
    }
    a.extend(s(args));
    redis_cli(&a, "", Duration::from_secs(10))
}

/// A server with `tls-port` (no plain port), the test CA and `server` as its certificate.
fn tls_server(pki: &Pki, server: &Pair, client: &Pair, extra: &[&str]) -> Node {
    for _ in 0..START_ATTEMPTS {
        let mut node = tls_server_on(free_port(false), pki, server, extra);
        if node.wait_ready(pki, client) {
            return node;
        }
    }
    panic!("ferrodis found its port taken {START_ATTEMPTS} times");
}

/// Attempts at starting a node whose port another process may take first.
const START_ATTEMPTS: usize = 5;

fn tls_server_on(port: u16, pki: &Pki, server: &Pair, extra: &[&str]) -> Node {
    let mut args = s(&[
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &server.cert,
        "--tls-key-file",
        &server.key,
        "--tls-ca-cert-file",
        &pki.ca_file(),
    ]);
    args.extend(s(extra));
    Node::spawn(&args).unwrap_or_else(|e| panic!("spawn ferrodis: {e}"))
}

fn openssl() -> Option<PathBuf> {
    find_on_path("openssl")
}

/// `openssl s_client` handshake (closing at once): true if it succeeded.
fn s_client(port: u16, ca: &str, client: Option<&Pair>, version: &str) -> bool {
    let Some(bin) = openssl() else {
        return false;
    };
    let mut cmd = Command::new(bin);
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            version,
            "-CAfile",
            ca,
            "-verify_return_error",
            "-brief",
            "-ign_eof",
        ]);
    if version == "-tls1_1" {
        cmd.args(["-cipher", "DEFAULT@SECLEVEL=0"]);
    }
    if let Some(c) = client {
        cmd.args(["-cert", &c.cert, "-key", &c.key]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    // A request after the handshake: with TLS 1.3 a refused client certificate only shows
    // when the server answers (with an alert instead of a reply).
    if let Some(mut i) = child.stdin.take() {
        // QUIT makes the server close the connection after the reply (-ign_eof: s_client
        // does not quit on stdin's end, which raced with the reply under load).
        let _ = i.write_all(b"PING\r\nQUIT\r\n");
    }
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    status.is_some_and(|s| s.success()) && out.contains("+PONG")
}

// ---------------------------------------------------------------------------------------
// A rustls client for long-lived connections and to see which certificate is served.

type TlsConn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn rustls_client(port: u16, pki: &Pki, client: &Pair) -> (TlsConn, Vec<u8>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.ca_file()).expect("ca") {
        roots.add(c.expect("ca cert")).expect("add ca");
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&client.cert)
        .expect("client cert")
        .map(|c| c.expect("cert"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(&client.key).expect("client key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .expect("client config");
    let conn = rustls::ClientConnection::new(
        Arc::new(cfg),
        ServerName::try_from("localhost").expect("name"),
    )
    .expect("client conn");
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let pong = roundtrip(&mut tls, b"PING\r\n");
    assert_eq!(pong, "+PONG\r\n");
    let served = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .expect("server certificate");
    (tls, served)
}

fn roundtrip(tls: &mut TlsConn, req: &[u8]) -> String {
    tls.write_all(req).expect("write");
    tls.flush().expect("flush");
    let mut buf = [0u8; 1024];
    let n = tls.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn der_of(pem_path: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(pem_path)
        .expect("cert")
        .as_ref()
        .to_vec()
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn redis_cli_over_tls_and_refused_clients() {
    let pki = Pki::new();
    let server = pki.leaf("server");
    let client = pki.leaf("client");
    let node = tls_server(&pki, &server, &client, &[]);
    let port = node.tls_port;

    let out = tls_cli(port, &pki, Some(&client), &["SET", "greeting", "hello"]);
    assert_eq!(out.stdout.trim(), "OK", "{out:?}");
    let out = tls_cli(port, &pki, Some(&client), &["GET", "greeting"]);
    assert_eq!(out.stdout.trim(), "hello", "{out:?}");

    // Plain text on the TLS port.
    let out = redis_cli(
        &s(&["-p", &port.to_string(), "PING"]),
        "",
        Duration::from_secs(10),
    );
    assert!(!out.stdout.contains("PONG"), "plain text answered: {out:?}");

    // tls-auth-clients yes (default): no certificate, expired, other CA, self-signed.
    let out = tls_cli(port, &pki, None, &["PING"]);
    assert!(
        !out.stdout.contains("PONG"),
        "no client cert accepted: {out:?}"
    );
    let expired = pki.save("expired", expired_leaf(&pki.ca, "expired"));
    let out = tls_cli(port, &pki, Some(&expired), &["PING"]);
    assert!(
        !out.stdout.contains("PONG"),
        "expired cert accepted: {out:?}"
    );
    let other_ca = make_ca("some other CA");
    let foreign = pki.save(
        "foreign",
        leaf(&other_ca, "foreign", &["127.0.0.1", "localhost"]),
    );
    let out = tls_cli(port, &pki, Some(&foreign), &["PING"]);
    assert!(
        !out.stdout.contains("PONG"),
        "other-CA cert accepted: {out:?}"
    );
    let selfsigned = pki.save("selfsigned", self_signed_leaf("selfsigned"));
    let out = tls_cli(port, &pki, Some(&selfsigned), &["PING"]);
    assert!(
        !out.stdout.contains("PONG"),
        "self-signed cert accepted: {out:?}"
    );
    assert!(node.log().contains("Error accepting a client connection"));

    // tls-auth-clients optional: no certificate is fine, a bad one still is not.
    let out = tls_cli(
        port,
        &pki,
        Some(&client),
        &["CONFIG", "SET", "tls-auth-clients", "optional"],
    );
    assert_eq!(out.stdout.trim(), "OK", "{out:?}");
    let out = tls_cli(port, &pki, None, &["PING"]);
    assert_eq!(out.stdout.trim(), "PONG", "{out:?}");
    let out = tls_cli(port, &pki, Some(&foreign), &["PING"]);
    assert!(
        !out.stdout.contains("PONG"),
        "other-CA cert accepted: {out:?}"
    );
    // tls-auth-clients no.
    tls_cli(
        port,
        &pki,
        None,
        &["CONFIG", "SET", "tls-auth-clients", "no"],
    );
    let out = tls_cli(port, &pki, None, &["CONFIG", "GET", "tls-auth-clients"]);
    assert_eq!(out.stdout, "tls-auth-clients\nno\n");
}

#[test]
fn config_set_errors_keep_the_old_configuration() {
    let pki = Pki::new();
    let server = pki.leaf("server");
    let client = pki.leaf("client");
    let node = tls_server(&pki, &server, &client, &[]);
    let port = node.tls_port;
    let cases: &[(&str, &str)] = &[
        ("tls-cert-file", "/nonexistent/cert.pem"),
        ("tls-protocols", "TLSv1"),
        ("tls-protocols", "TLSv1.1"),
        ("tls-protocols", "TLSv9"),
        ("tls-ciphersuites", "BOGUS"),
        ("tls-ciphers", "BOGUS"),
    ];
    for (name, value) in cases {
        let out = tls_cli(port, &pki, Some(&client), &["CONFIG", "SET", name, value]);
        assert_eq!(
            out.stdout.trim(),
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration. Check server logs."),
            "{name} {value}"
        );
    }
    let out = tls_cli(
        port,
        &pki,
        Some(&client),
        &["CONFIG", "GET", "tls-cert-file"],
    );
    assert_eq!(out.stdout, format!("tls-cert-file\n{}\n", server.cert));
    let out = tls_cli(
        port,
        &pki,
        Some(&client),
        &["CONFIG", "GET", "tls-protocols"],
    );
    assert_eq!(out.stdout, "tls-protocols\n\n");
    assert!(node.log().contains("Restoring previous settings"));
    // A suite rustls has, by its OpenSSL name.
    let out = tls_cli(
        port,
        &pki,
        Some(&client),
        &[
            "CONFIG",
            "SET",
            "tls-ciphersuites",
            "TLS_AES_256_GCM_SHA384",
            "tls-prefer-server-ciphers",
            "yes",
        ],
    );
    assert_eq!(out.stdout.trim(), "OK");
    let out = tls_cli(port, &pki, Some(&client), &["PING"]);
    assert_eq!(out.stdout.trim(), "PONG");

    // CONFIG SET tls-port moves the listener; a connection made before stays.
    let (mut before, _) = rustls_client(port, &pki, &client);
    let moved = free_port(false);
    let out = tls_cli(
        port,
        &pki,
        Some(&client),
        &["CONFIG", "SET", "tls-port", &moved.to_string()],
    );
    assert_eq!(out.stdout.trim(), "OK", "{out:?}");
    assert_eq!(
        tls_cli(moved, &pki, Some(&client), &["PING"]).stdout.trim(),
        "PONG"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "old tls-port still open"
    );
    assert_eq!(roundtrip(&mut before, b"PING\r\n"), "+PONG\r\n");
    // A port in use is refused and the old one kept.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_port = busy.local_addr().expect("addr").port().to_string();
    let out = tls_cli(
        moved,
        &pki,
        Some(&client),
        &["CONFIG", "SET", "tls-port", &busy_port],
    );
    assert_eq!(
        out.stdout.trim(),
        "ERR CONFIG SET failed (possibly related to argument 'tls-port') - Unable to listen on this port. Check server logs."
    );
    let out = tls_cli(moved, &pki, Some(&client), &["CONFIG", "GET", "tls-port"]);
    assert_eq!(out.stdout, format!("tls-port\n{moved}\n"));
}

#[test]
fn protocol_versions() {
    let pki = Pki::new();
    let server = pki.leaf("server");
    let client = pki.leaf("client");
    let node = tls_server(&pki, &server, &client, &["--tls-protocols", "TLSv1.2"]);
    let port = node.tls_port;
    assert_eq!(
        tls_cli(port, &pki, Some(&client), &["PING"]).stdout.trim(),
        "PONG"
    );
    if openssl().is_some() {
        // s_client may quit on stdin's end before the reply arrives under load: a few tries.
        assert!((0..3).any(|_| s_client(port, &pki.ca_file(), Some(&client), "-tls1_2")));
        assert!(!s_client(port, &pki.ca_file(), Some(&client), "-tls1_3"));
        assert!(!s_client(port, &pki.ca_file(), Some(&client), "-tls1_1"));
    }
    // Naming only protocols rustls lacks refuses to start, naming the directive.
    let mut args = s(&[
        "--port",
        "0",
        "--tls-port",
        &free_port(false).to_string(),
        "--tls-cert-file",
        &server.cert,
        "--tls-key-file",
        &server.key,
        "--tls-ca-cert-file",
        &pki.ca_file(),
    ]);
    args.extend(s(&["--tls-protocols", "TLSv1 TLSv1.1"]));
    let (ok, log) = Node::spawn(&args)
        .expect("spawn")
        .wait_exit(Duration::from_secs(10));
    assert!(!ok && log.contains("tls-protocols"), "{log}");
}

#[test]
fn encrypted_key_with_pass() {
    let Some(openssl) = openssl() else {
        return;
    };
    let pki = Pki::new();
    let server = pki.leaf("server");
    let client = pki.leaf("client");
    let enc = pki.path("server-enc.key");
    let st = Command::new(openssl)
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret",
        ])
        .args(["-in", &server.key, "-out", &enc])
        .status()
        .expect("openssl pkcs8");
    assert!(st.success());
    let enc_pair = Pair {
        cert: server.cert.clone(),
        key: enc.clone(),
    };
    let node = tls_server(&pki, &enc_pair, &client, &["--tls-key-file-pass", "s3cret"]);
    assert_eq!(
        tls_cli(node.tls_port, &pki, Some(&client), &["PING"])
            .stdout
            .trim(),
        "PONG"
    );
    // A wrong pass refuses to start and names the directive.
    let args = s(&[
        "--port",
        "0",
        "--tls-port",
        &free_port(false).to_string(),
        "--tls-cert-file",
        &server.cert,
        "--tls-key-file",
        &enc,
        "--tls-key-file-pass",
        "wrong",
        "--tls-ca-cert-file",
        &pki.ca_file(),
    ]);
    let (ok, log) = Node::spawn(&args)
        .expect("spawn")
        .wait_exit(Duration::from_secs(10));
    assert!(!ok && log.contains("tls-key-file-pass"), "{log}");
}

#[test]
fn certificates_reload_without_dropping_connections() {
    let pki = Pki::new();
    let server = pki.leaf("server");
    let client = pki.leaf("client");
    let node = tls_server(&pki, &server, &client, &[]);
    let port = node.tls_port;
    let (mut old_conn, served) = rustls_client(port, &pki, &client);
    assert_eq!(served, der_of(&server.cert));

    // CONFIG SET of both files: new handshakes get the new certificate.
    let second = pki.leaf("server2");
    let out = tls_cli(
        port,
        &pki,
        Some(&client),
        &[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &second.cert,
            "tls-key-file",
            &second.key,
        ],
    );
    assert_eq!(out.stdout.trim(), "OK", "{out:?}");
    let (_c, served) = rustls_client(port, &pki, &client);
    assert_eq!(served, der_of(&second.cert));
    assert_eq!(roundtrip(&mut old_conn, b"PING\r\n"), "+PONG\r\n");

    // The files change on disk: picked up within a couple of seconds.
    let (cert3, key3) = leaf(&pki.ca, "server3", &["127.0.0.1", "localhost"]);
    std::fs::write(&second.key, key3).expect("write key");
    std::fs::write(&second.cert, &cert3).expect("write cert");
    wait_for(
        Duration::from_secs(10),
        "the new certificate to be served",
        || rustls_client(port, &pki, &client).1 == der_of(&second.cert),
    );
    assert_eq!(roundtrip(&mut old_conn, b"PING\r\n"), "+PONG\r\n");
    assert!(node.log().contains("TLS certificates reloaded"));
}

fn cluster_node(pki: &Pki, server: &Pair, extra: &[&str]) -> Node {
    for _ in 0..START_ATTEMPTS {
        let mut node = cluster_node_on(free_port(true), pki, server, extra);
        if node.wait_ready(pki, server) {
            return node;
        }
    }
    panic!("ferrodis found its port taken {START_ATTEMPTS} times");
}

fn cluster_node_on(port: u16, pki: &Pki, server: &Pair, extra: &[&str]) -> Node {
    let mut args = s(&[
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cluster",
        "yes",
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "3000",
        "--tls-cert-file",
        &server.cert,
        "--tls-key-file",
        &server.key,
        "--tls-ca-cert-file",
        &pki.ca_file(),
    ]);
    args.extend(s(extra));
    Node::spawn(&args).unwrap_or_else(|e| panic!("spawn: {e}"))
}

#[test]
fn tls_cluster_with_port_zero() {
    let pki = Pki::new();
    // A certificate that names no address: with the default `tls-cluster-peer-verify none`
    // bus links check the CA only, as Redis does.
    let server = pki.save("node", leaf(&pki.ca, "node", &["node.example"]));
    let nodes: Vec<Node> = (0..3).map(|_| cluster_node(&pki, &server, &[])).collect();
    let mut args = s(&[
        "--tls",
        "--cert",
        &server.cert,
        "--key",
        &server.key,
        "--cacert",
        &pki.ca_file(),
        "--cluster",
        "create",
    ]);
    args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.tls_port)));
    args.extend(s(&["--cluster-replicas", "0", "--cluster-yes"]));
    let out = redis_cli(&args, "", Duration::from_secs(60));
    assert!(out.success, "cluster create failed: {out:?}");
    wait_for(
        Duration::from_secs(30),
        "cluster_state:ok everywhere",
        || {
            nodes.iter().all(|n| {
                tls_cli(n.tls_port, &pki, Some(&server), &["CLUSTER", "INFO"])
                    .stdout
                    .contains("cluster_state:ok")
            })
        },
    );
    // CLUSTER NODES names the TLS ports (bus = TLS port + 10000).
    let text = tls_cli(
        nodes[0].tls_port,
        &pki,
        Some(&server),
        &["CLUSTER", "NODES"],
    )
    .stdout;
    for n in &nodes {
        let want = format!("127.0.0.1:{}@{}", n.tls_port, n.tls_port + 10000);
        assert!(text.contains(&want), "{want} not in\n{text}");
    }
    // A key of another node's slots, through a redirect: "foo" is slot 12182 (third node).
    let mut a = s(&["-c", "-p", &nodes[0].tls_port.to_string(), "--tls"]);
    a.extend(s(&[
        "--cert",
        &server.cert,
        "--key",
        &server.key,
        "--cacert",
        &pki.ca_file(),
    ]));
    let mut set = a.clone();
    set.extend(s(&["SET", "foo", "bar"]));
    assert_eq!(
        redis_cli(&set, "", Duration::from_secs(10)).stdout.trim(),
        "OK"
    );
    let out = tls_cli(nodes[2].tls_port, &pki, Some(&server), &["GET", "foo"]);
    assert_eq!(out.stdout.trim(), "bar");
    let out = tls_cli(nodes[0].tls_port, &pki, Some(&server), &["GET", "foo"]);
    assert!(out.stdout.contains("MOVED 12182 127.0.0.1:"), "{out:?}");

    // The bus only takes certificates of the cluster CA.
    if openssl().is_some() {
        let bus = nodes[0].tls_port + 10000;
        let other = make_ca("intruder CA");
        let intruder = pki.save("intruder", leaf(&other, "intruder", &["127.0.0.1"]));
        assert!(!bus_handshake(bus, &pki.ca_file(), Some(&intruder)));
        assert!(!bus_handshake(bus, &pki.ca_file(), None));
        assert!(bus_handshake(bus, &pki.ca_file(), Some(&server)));
    }
}

/// A TLS 1.2 handshake with the bus port (no request: the bus speaks its own protocol).
fn bus_handshake(port: u16, ca: &str, client: Option<&Pair>) -> bool {
    let Some(bin) = openssl() else {
        return false;
    };
    let mut cmd = Command::new(bin);
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-tls1_2", "-CAfile", ca, "-verify_return_error", "-brief"]);
    if let Some(c) = client {
        cmd.args(["-cert", &c.cert, "-key", &c.key]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("openssl");
    out.status.success()
}

#[test]
fn bus_peer_must_name_its_address() {
    if openssl().is_none() {
        return;
    }
    let pki = Pki::new();
    let server = pki.leaf("node");
    let node = cluster_node(&pki, &server, &["--tls-cluster-peer-verify", "address"]);
    let bus = node.tls_port + 10000;
    const REFUSED: &str = "does not name that address";
    // Signed by the cluster CA but naming another address: the handshake completes, then the
    // node drops the link.
    let elsewhere = pki.save("elsewhere", leaf(&pki.ca, "elsewhere", &["10.1.2.3"]));
    bus_handshake(bus, &pki.ca_file(), Some(&elsewhere));
    wait_for(Duration::from_secs(5), "the refusal in the log", || {
        node.log().contains(REFUSED)
    });
    let refusals = node.log().matches(REFUSED).count();
    // Naming 127.0.0.1: kept.
    assert!(bus_handshake(bus, &pki.ca_file(), Some(&server)));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        node.log().matches(REFUSED).count(),
        refusals,
        "{}",
        node.log()
    );
    let out = tls_cli(
        node.tls_port,
        &pki,
        Some(&server),
        &["CONFIG", "GET", "tls-cluster-peer-verify"],
    );
    assert_eq!(out.stdout, "tls-cluster-peer-verify\naddress\n");
}

#[test]
fn bus_sender_must_be_named_by_its_certificate() {
    let pki = Pki::new();
    let plain = pki.leaf("plain");
    let a = cluster_node(&pki, &plain, &["--tls-cluster-peer-verify", "node-id"]);
    let b = cluster_node(&pki, &plain, &[]);
    let b_id = tls_cli(b.tls_port, &pki, Some(&plain), &["CLUSTER", "MYID"])
        .stdout
        .trim()
        .to_string();
    assert_eq!(b_id.len(), 40, "{b_id}");
    // B meets A with a certificate of the cluster CA that does not name B's id: A drops it.
    let meet = ["CLUSTER", "MEET", "127.0.0.1", &a.tls_port.to_string()];
    let out = tls_cli(b.tls_port, &pki, Some(&plain), &meet);
    assert_eq!(out.stdout.trim(), "OK");
    wait_for(Duration::from_secs(10), "A refusing B's messages", || {
        a.log().contains(&format!("does not name node {b_id}"))
    });
    let nodes = tls_cli(a.tls_port, &pki, Some(&plain), &["CLUSTER", "NODES"]).stdout;
    assert!(!nodes.contains(&b_id), "A knows B:\n{nodes}");
    // B's new certificate names its id (reloaded by CONFIG SET): A takes it in.
    let named = pki.save(
        "named",
        leaf(&pki.ca, "named", &["127.0.0.1", b_id.as_str()]),
    );
    let out = tls_cli(
        b.tls_port,
        &pki,
        Some(&plain),
        &[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &named.cert,
            "tls-key-file",
            &named.key,
        ],
    );
    assert_eq!(out.stdout.trim(), "OK", "{out:?}");
    tls_cli(b.tls_port, &pki, Some(&plain), &meet);
    wait_for(Duration::from_secs(20), "A to know B", || {
        tls_cli(a.tls_port, &pki, Some(&plain), &["CLUSTER", "NODES"])
            .stdout
            .contains(&b_id)
    });
}

/// The hardened deployment guide, end to end on loopback: its ACL file and its node config
/// (`port 0`, `tls-port`, `tls-cluster yes`, `tls-replication yes`, `tls-protocols`,
/// `protected-mode yes`, `aclfile`, `appendonly yes`) unchanged but for paths and ports, its
/// `redis-cli --cluster create --tls` (with `--user admin_user`: with `default off` the
/// guide's bare `-a` authenticates as `default`, which stock Redis refuses just the same),
/// then its checks: `cluster_state:ok`, `SET patient:12345` through redirects, app_user may
/// `SET session:test` and gets NOPERM on FLUSHALL, `default` cannot authenticate, and a
/// plain-text connection gets nothing.
#[test]
fn hardened_guide_cluster_runs_its_own_commands() {
    let pki = Pki::new();
    let server = pki.save("guide", leaf(&pki.ca, "guide", &["127.0.0.1"]));
    let acl = TempDir::new("guide-acl");
    let aclfile = acl.path().join("users.acl");
    std::fs::write(
        &aclfile,
        "user app_user on >AppPassword123! ~session:* ~patient:* +get +set +hget +hset +expire +ttl\n\
         user dev_user on >DevPassword123! ~* +get +hget +keys +info +cluster\n\
         user admin_user on >AdminPassword123! ~* +@all\n\
         user default off\n",
    )
    .unwrap();
    let admin = ["--user", "admin_user", "--pass", "AdminPassword123!"];
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let port = free_port(true);
        let dir = TempDir::new("guide-node");
        let conf = dir.path().join("redis-cluster.conf");
        std::fs::write(
            &conf,
            format!(
                "# Network - TLS only\nport 0\ntls-port {port}\nbind 127.0.0.1\n\n# Cluster\n\
                 cluster-enabled yes\ncluster-config-file nodes-{port}.conf\ncluster-node-timeout 5000\n\n\
                 # TLS/SSL\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-cluster yes\n\
                 tls-replication yes\ntls-protocols \"TLSv1.2 TLSv1.3\"\n\n# Access Control\n\
                 protected-mode yes\naclfile {}\n\n# Persistence\nappendonly yes\ndir {}\n\n\
                 # Logging\nloglevel notice\nlogfile {}\n",
                server.cert,
                server.key,
                pki.ca_file(),
                aclfile.display(),
                dir.as_str(),
                dir.path().join("redis-cluster.log").display(),
            ),
        )
        .unwrap();
        let child = Command::new(ferrodis_binary())
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ferrodis");
        let node = Node {
            child,
            dir,
            tls_port: port,
        };
        let log = || {
            std::fs::read_to_string(node.dir.path().join("redis-cluster.log")).unwrap_or_default()
        };
        wait_for(Duration::from_secs(20), "PONG as admin_user", || {
            let mut a: Vec<&str> = admin.to_vec();
            a.push("PING");
            tls_cli(port, &pki, Some(&server), &a).stdout.trim() == "PONG"
        });
        assert!(log().contains("Ready to accept connections"), "{}", log());
        nodes.push(node);
    }
    let mut args = s(&["--cluster", "create"]);
    args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.tls_port)));
    args.extend(s(&[
        "--cluster-replicas",
        "0",
        "--cluster-yes",
        "--user",
        "admin_user",
        "-a",
        "AdminPassword123!",
        "--tls",
        "--cert",
        &server.cert,
        "--key",
        &server.key,
        "--cacert",
        &pki.ca_file(),
    ]));
    let out = redis_cli(&args, "", Duration::from_secs(60));
    assert!(out.success, "cluster create failed: {out:?}");
    assert!(
        out.stdout.contains("[OK] All 16384 slots covered."),
        "{out:?}"
    );
    let cli = |port: u16, auth: &[&str], cmd: &[&str]| {
        let mut a = vec!["-c"];
        a.extend_from_slice(auth);
        a.extend_from_slice(cmd);
        tls_cli(port, &pki, Some(&server), &a)
    };
    wait_for(
        Duration::from_secs(30),
        "cluster_state:ok everywhere",
        || {
            nodes.iter().all(|n| {
                let info = cli(n.tls_port, &admin, &["CLUSTER", "INFO"]).stdout;
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_assigned:16384")
                    && info.contains("cluster_known_nodes:3")
            })
        },
    );
    let p0 = nodes[0].tls_port;
    // patient:12345 is slot 1969... whichever node owns it, -c follows the redirect.
    assert_eq!(
        cli(p0, &admin, &["SET", "patient:12345", "encrypted_data"])
            .stdout
            .trim(),
        "OK"
    );
    assert_eq!(
        cli(p0, &admin, &["GET", "patient:12345"]).stdout.trim(),
        "encrypted_data"
    );
    let app = ["--user", "app_user", "--pass", "AppPassword123!"];
    assert_eq!(
        cli(p0, &app, &["SET", "session:test", "data"])
            .stdout
            .trim(),
        "OK"
    );
    let out = cli(p0, &app, &["FLUSHALL"]);
    assert!(
        out.stdout
            .contains("NOPERM this user has no permissions to run the 'flushall' command"),
        "{out:?}"
    );
    let out = cli(p0, &app, &["SET", "other:key", "x"]);
    assert!(out.stdout.contains("NOPERM"), "{out:?}");
    // `default off`: neither its old password nor none gets in.
    let out = cli(p0, &["-a", "AdminPassword123!"], &["PING"]);
    assert!(!out.stdout.contains("PONG"), "{out:?}");
    let out = cli(p0, &[], &["PING"]);
    assert!(out.stdout.contains("NOAUTH"), "{out:?}");
    // Plain text on the TLS port gets no Redis reply.
    let plain = redis_cli(
        &s(&["-p", &p0.to_string(), "PING"]),
        "",
        Duration::from_secs(10),
    );
    assert!(!plain.stdout.contains("PONG"), "{plain:?}");
    // appendonly yes: every node writes its AOF.
    for n in &nodes {
        assert!(n.dir.path().join("appendonlydir").is_dir());
    }
}

/// `tls-replication yes`: a replica follows a TLS-only primary (`port 0`) over TLS, presenting
/// its certificate and checking the primary's against the CA and the address dialled.
#[test]
fn replication_over_tls() {
    let pki = Pki::new();
    let server = pki.leaf("server");
    let primary = tls_server(&pki, &server, &server, &["--tls-replication", "yes"]);
    let replica = tls_server(&pki, &server, &server, &["--tls-replication", "yes"]);
    let p = primary.tls_port.to_string();
    tls_cli(
        primary.tls_port,
        &pki,
        Some(&server),
        &["SET", "before", "1"],
    );
    let out = tls_cli(
        replica.tls_port,
        &pki,
        Some(&server),
        &["REPLICAOF", "127.0.0.1", &p],
    );
    assert_eq!(out.stdout.trim(), "OK", "{out:?}");
    tls_cli(
        primary.tls_port,
        &pki,
        Some(&server),
        &["SET", "after", "2"],
    );
    wait_for(Duration::from_secs(20), "replica has both keys", || {
        let a = tls_cli(
            replica.tls_port,
            &pki,
            Some(&server),
            &["MGET", "before", "after"],
        );
        a.stdout.split_whitespace().collect::<Vec<_>>() == ["1", "2"]
    });
    let info = tls_cli(
        replica.tls_port,
        &pki,
        Some(&server),
        &["INFO", "replication"],
    )
    .stdout;
    assert!(info.contains("master_link_status:up"), "{info}");
    // Without tls-replication the replica speaks plain text to a TLS port: no link.
    let plain = tls_server(&pki, &server, &server, &[]);
    tls_cli(
        plain.tls_port,
        &pki,
        Some(&server),
        &["REPLICAOF", "127.0.0.1", &p],
    );
    thread::sleep(Duration::from_millis(1500));
    let info = tls_cli(
        plain.tls_port,
        &pki,
        Some(&server),
        &["INFO", "replication"],
    )
    .stdout;
    assert!(info.contains("master_link_status:down"), "{info}");
}
