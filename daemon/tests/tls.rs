//! TLS both ways, on loopback with certificates made here (rcgen): a variantd
//! serving HTTPS (`[server.tls]`) as the upstream of another variantd whose
//! remote variants trust it through `tls_ca_file`; certificates from another
//! CA and for another name; mutual TLS; HTTP/2 by ALPN; files rotated on
//! disk while running.

mod support;

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::*;

/// A CA that issues certificates into a directory.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, written as `<stem>.pem` and `<stem>.key` in `dir`.
    fn issue(&self, dir: &Path, stem: &str, names: &[&str], cn: &str) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        write_atomic(&dir.join(format!("{stem}.pem")), &cert.pem());
        write_atomic(&dir.join(format!("{stem}.key")), &key.serialize_pem());
    }

    fn write(&self, path: &Path) {
        write_atomic(path, &self.pem);
    }
}

/// A variantd serving the app_a plugin over HTTPS with `server.pem`/`.key`
/// (and requiring client certificates from `client_ca.pem` when `mtls`).
fn tls_app(work: Workdir, mtls: bool) -> Daemon {
    let client_ca = if mtls {
        "client_ca_file = \"client_ca.pem\""
    } else {
        ""
    };
    work.write_config(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1
[server.tls]
cert_file = "server.pem"
key_file = "server.key"
{client_ca}
[plugins]
dir = "plugins"
include = ["libapp_a.so"]
[statsig]
specs_file = "statsig_specs.json"
[variants.app_a]
label = "A"
plugin = "app_a"
[[routes]]
path = "/process/{{message}}"
variant = "app_a"
"#
    ));
    let d = work.start();
    assert_eq!(d.scheme, "https", "prints its https address");
    d
}

fn app_workdir() -> Workdir {
    let work = Workdir::new();
    deploy("app_a", &work.plugins(), "libapp_a.so");
    work
}

/// A front daemon (no plugins) in `work` whose `[[routes]]` send /process
/// to `variant`.
fn front_in(work: Workdir, variants: &str, variant: &str) -> Daemon {
    work.write_config(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1
[plugins]
dir = "plugins"
debounce_ms = 50
[statsig]
specs_file = "statsig_specs.json"
{variants}
[[routes]]
path = "/process/{{message}}"
variant = "{variant}"
"#
    ));
    work.start()
}

fn https_client(ca: &Ca) -> reqwest::blocking::ClientBuilder {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
}

fn get(url: &str) -> (u16, serde_json::Value) {
    let r = client().get(url).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(serde_json::Value::Null))
}

#[test]
fn https_upstreams_are_verified_against_tls_ca_file_and_the_name() {
    let ca = Ca::new("variantd test CA");
    let work = app_workdir();
    // Issued for a name only, not for 127.0.0.1: the front must be told
    // which name to expect (tls_server_name).
    ca.issue(work.path(), "server", &["app-a.test"], "app-a.test");
    let app = tls_app(work, false);
    let port = app.addr.port();

    // The daemon's own HTTPS, answered to a real client, over HTTP/2 by ALPN.
    let direct = https_client(&ca)
        .resolve("app-a.test", app.addr)
        .build()
        .unwrap()
        .get(format!("https://app-a.test:{port}/process/hi"))
        .send()
        .unwrap();
    assert_eq!(direct.status(), 200);
    assert_eq!(direct.version(), reqwest::Version::HTTP_2);
    assert!(direct.text().unwrap().contains("App A processed: hi"));

    let front_work = Workdir::new();
    ca.write(&front_work.path().join("ca.pem"));
    let other = Ca::new("some other CA");
    other.write(&front_work.path().join("other_ca.pem"));
    let d = front_in(
        front_work,
        &format!(
            r#"
[variants.good]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
tls_server_name = "app-a.test"
[variants.h1]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
tls_server_name = "app-a.test"
http2 = false
[variants.untrusted]
url = "https://127.0.0.1:{port}"
tls_ca_file = "other_ca.pem"
tls_server_name = "app-a.test"
retries = 0
[variants.wrong_name]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
retries = 0
[variants.insecure]
url = "https://127.0.0.1:{port}"
insecure_skip_verify = true
"#
        ),
        "good",
    );
    let (status, body) = get(&d.url("/process/hello"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "App A processed: hello", "{body}");
    for v in ["good", "h1", "insecure"] {
        let (status, body) = get(&d.url(&format!("/variants/{v}/process/x")));
        assert_eq!(status, 200, "{v}: {body}");
    }

    let (status, body) = get(&d.url("/variants/untrusted/process/x"));
    assert_eq!(status, 502, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("certificate") && error.contains("untrusted"),
        "{error}"
    );

    let (status, body) = get(&d.url("/variants/wrong_name/process/x"));
    assert_eq!(status, 502, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("certificate") && error.contains("another name"),
        "{error}"
    );

    let metrics = d.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("variantd_upstream_errors_total")
                && l.contains("kind=\"tls_certificate\"")
                && l.contains("variant=\"untrusted\"")),
        "{metrics}"
    );

    // insecure_skip_verify: said loudly at start and in /readyz.
    assert!(d.logs().contains("INSECURE"), "{}", d.logs());
    let (_, ready) = get(&d.url("/readyz"));
    assert!(
        ready["warnings"]
            .to_string()
            .contains("insecure_skip_verify"),
        "{ready}"
    );
}

#[test]
fn mutual_tls_is_accepted_with_a_client_certificate_and_refused_without() {
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let work = app_workdir();
    ca.issue(work.path(), "server", &["127.0.0.1"], "app");
    client_ca.write(&work.path().join("client_ca.pem"));
    let app = tls_app(work, true);
    let port = app.addr.port();

    let front_work = Workdir::new();
    ca.write(&front_work.path().join("ca.pem"));
    client_ca.issue(
        front_work.path(),
        "client",
        &["variantd-front"],
        "variantd-front",
    );
    // A certificate the app does not trust.
    Ca::new("stranger").issue(front_work.path(), "stranger", &["x"], "x");
    let d = front_in(
        front_work,
        &format!(
            r#"
[variants.with_cert]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
tls_client_cert = "client.pem"
tls_client_key = "client.key"
[variants.without_cert]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
retries = 0
http2 = false
[variants.without_cert_h2]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
retries = 0
[variants.stranger]
url = "https://127.0.0.1:{port}"
tls_ca_file = "ca.pem"
tls_client_cert = "stranger.pem"
tls_client_key = "stranger.key"
retries = 0
"#
        ),
        "with_cert",
    );
    let (status, body) = get(&d.url("/process/m"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "App A processed: m");
    for v in ["without_cert", "without_cert_h2", "stranger"] {
        let (status, body) = get(&d.url(&format!("/variants/{v}/process/m")));
        assert_eq!(status, 502, "{v}: {body}");
    }
    // Over HTTP/1.1 the refusal's alert is read with the answer, and named.
    let (_, body) = get(&d.url("/variants/without_cert/process/m"));
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("TLS") && error.contains("CertificateRequired"),
        "{error}"
    );
    // A real client, refused and then accepted.
    let url = format!("https://127.0.0.1:{port}/process/z");
    assert!(https_client(&ca).build().unwrap().get(&url).send().is_err());
    let mut identity = std::fs::read(d.dir.join("client.pem")).unwrap();
    identity.extend(std::fs::read(d.dir.join("client.key")).unwrap());
    let with = https_client(&ca)
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    assert_eq!(with.get(&url).send().unwrap().status(), 200);
}

/// The DER of the certificate a fresh connection is served.
fn served_cert(ca: &Ca, url: &str) -> Vec<u8> {
    let r = https_client(ca)
        .tls_info(true)
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    info.peer_certificate().unwrap().to_vec()
}

#[test]
fn certificates_rotated_on_disk_are_picked_up_live() {
    let ca = Ca::new("rotation CA");
    let work = app_workdir();
    ca.issue(work.path(), "server", &["127.0.0.1"], "first");
    let app = tls_app(work, false);
    let url = format!("https://127.0.0.1:{}/process/r", app.addr.port());

    let first = served_cert(&ca, &url);
    let kept = https_client(&ca).build().unwrap();
    assert_eq!(kept.get(&url).send().unwrap().status(), 200);
    // Renewed: a new key and certificate, written one after the other.
    ca.issue(&app.dir, "server", &["127.0.0.1"], "second");
    assert!(
        wait_until(Duration::from_secs(10), || served_cert(&ca, &url) != first),
        "the renewed certificate was not served"
    );
    // The connection opened before still answers: nothing was dropped.
    assert_eq!(kept.get(&url).send().unwrap().status(), 200);

    // The client side: a front that does not trust the app's CA, until its
    // tls_ca_file is replaced by the right one.
    let front_work = Workdir::new();
    Ca::new("wrong").write(&front_work.path().join("ca.pem"));
    let d = front_in(
        front_work,
        &format!(
            "[variants.app]\nurl = \"https://127.0.0.1:{}\"\ntls_ca_file = \"ca.pem\"\nretries = 0\nbreaker_failures = 1000\n",
            app.addr.port()
        ),
        "app",
    );
    let (status, body) = get(&d.url("/process/c"));
    assert_eq!(status, 502, "{body}");
    ca.write(&d.dir.join("ca.pem"));
    assert!(
        wait_until(Duration::from_secs(10), || get(&d.url("/process/c")).0
            == 200),
        "the replaced tls_ca_file was not picked up"
    );
}

#[test]
fn tls_settings_are_checked_with_the_config() {
    let work = Workdir::new();
    work.write_config(&example_config(
        "[variants.r]\nurl = \"http://127.0.0.1:1\"\ntls_ca_file = \"ca.pem\"\n",
    ));
    let err = work.start_fails();
    assert!(
        err.contains("variants.r.tls_ca_file") && err.contains("https"),
        "{err}"
    );

    work.write_config(&example_config(
        "[variants.r]\nurl = \"https://127.0.0.1:1\"\ntls_ca_file = \"missing.pem\"\n",
    ));
    let err = work.start_fails();
    assert!(err.contains("missing.pem"), "{err}");

    work.write_config(&example_config("").replace(
        "workers = 2",
        "workers = 2\n[server.tls]\ncert_file = \"nope.pem\"\nkey_file = \"nope.key\"",
    ));
    let err = work.start_fails();
    assert!(
        err.contains("server.tls") && err.contains("nope.pem"),
        "{err}"
    );
}
