//! A loopback SMTP server for tests: the `mailin` protocol state machine
//! over TCP, with STARTTLS (rustls, a self-signed certificate made for
//! the test) and AUTH PLAIN; every accepted message is kept.

use mailin::response::Action;
use mailin::{AuthMechanism, Handler, Response, SessionBuilder};
use rustls::ServerConnection;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One message as the server accepted it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mail {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    /// `(user, password)` given with AUTH PLAIN.
    pub(crate) auth: Option<(String, String)>,
    /// Whether the session was under TLS when the message came.
    pub(crate) tls: bool,
    pub(crate) data: String,
}

#[derive(Clone)]
struct Collect {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Mail,
    auth: Option<(String, String)>,
    tls: Arc<Mutex<bool>>,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Mail {
            from: from.to_owned(),
            to: to.to_vec(),
            auth: self.auth.clone(),
            tls: *self.tls.lock().unwrap(),
            data: String::new(),
        };
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.mails
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.current));
        mailin::response::OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        if user == "prism" && password == "hunter2" {
            self.auth = Some((user.to_owned(), password.to_owned()));
            mailin::response::AUTH_OK
        } else {
            mailin::response::INVALID_CREDENTIALS
        }
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<ServerConnection, TcpStream>>),
    Gone,
}

impl Conn {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.as_mut(),
            Conn::Gone => unreachable!("used after an upgrade failed"),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A running server.
pub(crate) struct SmtpServer {
    pub(crate) port: u16,
    /// The certificate to trust, PEM.
    pub(crate) ca_pem: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub(crate) fn start() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let ca_pem = cert.cert.pem();
        let der = CertificateDer::from(cert.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                let mails = kept.clone();
                std::thread::spawn(move || serve(stream, &config, mails));
            }
        });
        Self {
            port,
            ca_pem,
            mails,
        }
    }

    pub(crate) fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.mails.lock().unwrap().clone();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve(stream: TcpStream, config: &Arc<rustls::ServerConfig>, mails: Arc<Mutex<Vec<Mail>>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let tls = Arc::new(Mutex::new(false));
    let handler = Collect {
        mails,
        current: Mail::default(),
        auth: None,
        tls: tls.clone(),
    };
    let mut builder = SessionBuilder::new("loopback.test");
    builder.enable_start_tls().enable_auth(AuthMechanism::Plain);
    let mut session = builder.build(IpAddr::from([127, 0, 0, 1]), handler);
    let mut conn = Conn::Plain(stream);
    if session.greeting().write_to(conn.io()).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut byte = [0u8; 1];
        loop {
            match conn.io().read(&mut byte) {
                Ok(1) => {
                    line.push(byte[0]);
                    if byte[0] == b'\n' {
                        break;
                    }
                }
                _ => return,
            }
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Close => {
                let _ = response.write_to(conn.io());
                return;
            }
            Action::Reply => {
                if response.write_to(conn.io()).is_err() {
                    return;
                }
            }
            Action::UpgradeTls => {
                if response.write_to(conn.io()).is_err() {
                    return;
                }
                let Conn::Plain(tcp) = std::mem::replace(&mut conn, Conn::Gone) else {
                    return;
                };
                let Ok(server) = ServerConnection::new(config.clone()) else {
                    return;
                };
                conn = Conn::Tls(Box::new(rustls::StreamOwned::new(server, tcp)));
                *tls.lock().unwrap() = true;
                session.tls_active();
            }
        }
        let _ = conn.io().flush();
    }
}
