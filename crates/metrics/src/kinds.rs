//! Small closed enums the hot path counts by, instead of strings.

use serde::Serialize;

/// Why a request failed, counted per request series. A response with a status
/// is classified by its class; transport failures by their cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Connection refused by the target.
    Refused,
    /// Connect or request timed out.
    Timeout,
    /// Connection reset or closed mid-request.
    Reset,
    /// TLS handshake or certificate failure.
    Tls,
    /// Name resolution failed.
    Dns,
    /// Malformed HTTP from the target.
    Protocol,
    /// Any other transport failure (local resource limits included).
    Other,
    /// A 4xx response.
    Status4xx,
    /// A 5xx response.
    Status5xx,
    /// This process is out of file descriptors (its open-files limit): the
    /// load generator, not the target, is at fault.
    OpenFiles,
    /// A response body that a check or extractor needed grew past the
    /// target's `max_body_size`; the rest was not read.
    BodyTooLarge,
    /// The destination is not in the agent's `--allow-target` list; nothing
    /// was sent.
    NotAllowed,
    /// A redirect chain longer than the step's `max_redirects`: the last
    /// redirect response is the step's result (k6 returns it too, with a warning).
    TooManyRedirects,
}

impl ErrorKind {
    pub const COUNT: usize = 13;
    pub const ALL: [ErrorKind; Self::COUNT] = [
        ErrorKind::Refused,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Tls,
        ErrorKind::Dns,
        ErrorKind::Protocol,
        ErrorKind::Other,
        ErrorKind::Status4xx,
        ErrorKind::Status5xx,
        ErrorKind::OpenFiles,
        ErrorKind::BodyTooLarge,
        ErrorKind::NotAllowed,
        ErrorKind::TooManyRedirects,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Tls => "tls",
            ErrorKind::Dns => "dns",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
            ErrorKind::Status4xx => "status_4xx",
            ErrorKind::Status5xx => "status_5xx",
            ErrorKind::OpenFiles => "open_files",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::NotAllowed => "not_allowed",
            ErrorKind::TooManyRedirects => "too_many_redirects",
        }
    }

    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The error kind of a status code, if it is an error (k6: ≥ 400).
    #[inline]
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        match status {
            400..=499 => Some(ErrorKind::Status4xx),
            500..=599 => Some(ErrorKind::Status5xx),
            _ => None,
        }
    }
}

/// What a CDN said it did with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    Hit,
    Miss,
    Unknown,
}
