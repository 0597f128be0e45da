//! E-mail over SMTP (lettre): STARTTLS, implicit TLS or, for a relay on
//! the same machine, none; AUTH when a user is configured.

use super::Failure;
use crate::notification::{Notification, clip, priority_name};
use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use prism_config::SmtpSecurity;
use std::time::Duration;

/// A configured mail route: the transport and the envelope.
#[derive(Clone)]
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// What the mailer is built from (secrets already read).
pub(crate) struct MailSettings<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) security: SmtpSecurity,
    pub(crate) credentials: Option<(String, String)>,
    /// PEM certificates trusted besides the public roots.
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) from: &'a str,
    pub(crate) to: &'a [String],
    pub(crate) timeout: Duration,
}

impl Mailer {
    /// # Errors
    /// A message naming the field: an address that does not parse, a CA
    /// file that is not PEM, TLS parameters that cannot be built.
    pub(crate) fn new(s: MailSettings<'_>) -> Result<Self, String> {
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| format!("from: `{}` is not an address: {e}", s.from))?;
        let to =
            s.to.iter()
                .enumerate()
                .map(|(i, a)| {
                    a.parse::<Mailbox>()
                        .map_err(|e| format!("to[{i}]: `{a}` is not an address: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
        let tls = match s.security {
            SmtpSecurity::None => None,
            SmtpSecurity::Starttls | SmtpSecurity::Tls => {
                let mut params = TlsParameters::builder(s.host.to_owned());
                if let Some(pem) = &s.ca_pem {
                    let cert = Certificate::from_pem(pem)
                        .map_err(|e| format!("ca_file: not a PEM certificate: {e}"))?;
                    params = params.add_root_certificate(cert);
                }
                Some(
                    params
                        .build_rustls()
                        .map_err(|e| format!("TLS parameters: {e}"))?,
                )
            }
        };
        let tls = match (s.security, tls) {
            (SmtpSecurity::Starttls, Some(p)) => Tls::Required(p),
            (SmtpSecurity::Tls, Some(p)) => Tls::Wrapper(p),
            _ => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(s.timeout));
        if let Some((user, password)) = s.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
        })
    }

    /// Sends one message: subject `[P0] title`, the text as a plain body,
    /// and a `Message-ID` from the notification's id, so a mail client
    /// shows a redelivery as the same message.
    pub(crate) async fn send(&self, n: &Notification, text: &str) -> Result<(), Failure> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            // A plugin's title must not break out of the header.
            .subject(clip(
                &format!("[{}] {}", priority_name(n.priority), n.title)
                    .replace(char::is_control, " "),
                200,
            ))
            .message_id(Some(format!(
                "<{}@prism>",
                n.id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "-")
            )))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder.body(text.to_owned()).map_err(|e| Failure {
            retry: false,
            retry_after_ms: None,
            message: format!("cannot build the message: {e}"),
        })?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure {
                // A permanent SMTP reply (5xx) will not change on retry.
                retry: !e.is_permanent(),
                retry_after_ms: None,
                message: format!("SMTP: {e}"),
            }),
        }
    }
}
