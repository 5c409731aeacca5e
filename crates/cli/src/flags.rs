//! Files and addresses the flags name, checked before any load: `--out`
//! outputs (distinct, creatable), `--listen`/`--metrics-listen`, token files
//! and TLS certificates. Each failure is a flag error (exit 104) that says
//! what is wrong.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use stampede_controller::Recorder;
use stampede_report::outputs::{Output, RunContext};

use crate::cli::ReportArgs;
use crate::run::INTERVAL;

/// Refuses two `--out` flags that name the same file (the second would
/// silently overwrite the first).
pub(crate) fn check_distinct_outputs(specs: &[(String, std::path::PathBuf)], flag: &str) -> anyhow::Result<()> {
    fn normalized(p: &Path) -> std::path::PathBuf {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match (abs.parent().and_then(|d| d.canonicalize().ok()), abs.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => abs,
        }
    }
    for (i, (kind, path)) in specs.iter().enumerate() {
        for (earlier_kind, earlier) in &specs[..i] {
            if path == earlier || normalized(path) == normalized(earlier) {
                return Err(crate::invalid(format!(
                    "{flag} {earlier_kind}={} and {flag} {kind}={} write the same file (one would overwrite the other); give each output its own path",
                    earlier.display(),
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Opens the `--out` files before any load: a path that cannot be written is a flag error.
pub(crate) fn open_named_outputs(
    specs: &[(String, std::path::PathBuf)],
    ctx: &RunContext,
    flag: &str,
) -> anyhow::Result<Vec<(String, Box<dyn Output>)>> {
    check_distinct_outputs(specs, flag)?;
    let mut outputs = Vec::new();
    for (kind, path) in specs {
        let output = stampede_report::outputs::open(kind, path, ctx).map_err(|e| {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let hint = match dir {
                Some(d) if e.kind() == std::io::ErrorKind::NotFound && !d.exists() => {
                    format!(": the directory {} does not exist (create it first)", d.display())
                }
                _ => String::new(),
            };
            crate::invalid(format!("{flag} {kind}={}: cannot create the file: {e}{hint}", path.display()))
        })?;
        outputs.push((format!("{kind} output {}", path.display()), output));
    }
    Ok(outputs)
}

/// `--summary-export PATH`: k6's summary document, written at the end.
fn open_summary_export(
    path: &Path,
    out: &[(String, std::path::PathBuf)],
    ctx: &RunContext,
) -> anyhow::Result<(String, Box<dyn Output>)> {
    let mut all = out.to_vec();
    all.push(("summary-export".to_string(), path.to_path_buf()));
    check_distinct_outputs(&all, "--out")?;
    let output = stampede_report::summary_export::SummaryExportOutput::create(path, ctx)
        .map_err(|e| crate::invalid(format!("--summary-export {}: cannot create the file: {e}", path.display())))?;
    Ok((format!("summary export {}", path.display()), Box::new(output)))
}

pub(crate) fn open_outputs(
    report: &ReportArgs,
    file: &Path,
    plan: &stampede_scenario::Plan,
) -> anyhow::Result<(Recorder, RunContext)> {
    let started_wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut ctx = RunContext {
        scenario_file: file.display().to_string(),
        started_at_ms: started_wall.as_millis() as u64,
        interval: INTERVAL,
        baseline: None,
    };
    // The comparison first: it finishes before the outputs that show it
    // (the HTML report has a section for it).
    let mut outputs: Vec<(String, Box<dyn Output>)> = Vec::new();
    if let Some(path) = &report.baseline {
        let opts = compare_options(report.confidence, report.noise, &report.budgets, &plan.budgets)?;
        let (output, slot) = stampede_report::compare::BaselineOutput::open(path, opts, &ctx)
            .map_err(|e| crate::invalid(format!("--baseline: {e}")))?;
        outputs.push((format!("comparison with {}", path.display()), Box::new(output)));
        ctx.baseline = Some(slot);
    }
    // The scenario's `[outputs]`, then the flags (the same output named in
    // both is opened once).
    let mut specs: Vec<(String, std::path::PathBuf)> = Vec::new();
    for (kind, target) in &plan.outputs {
        let spec = stampede_report::outputs::parse_spec(&format!("{kind}={target}"))
            .map_err(|e| crate::invalid(format!("{}: [outputs] out: {e}", file.display())))?;
        specs.push(spec);
    }
    for spec in &report.out {
        if !specs.contains(spec) {
            specs.push(spec.clone());
        }
    }
    let (sends, files): (Vec<_>, Vec<_>) =
        specs.into_iter().partition(|(kind, _)| kind == stampede_report::outputs::REMOTE_WRITE);
    check_distinct_outputs(&sends, "--out")?;
    outputs.extend(open_named_outputs(&files, &ctx, "--out")?);
    if let Some(path) = &report.summary_export {
        outputs.push(open_summary_export(path, &files, &ctx)?);
    }
    for (kind, url) in &sends {
        let config = remote_write_config(&report.remote_write, &url.to_string_lossy(), &ctx)?;
        let output = stampede_report::remote_write::RemoteWriteOutput::start(config, &ctx)
            .map_err(|e| anyhow::anyhow!("--out {kind}: cannot start the sender: {e}"))?;
        outputs.push((format!("{kind} output {}", url.display()), Box::new(output)));
    }
    Ok((Recorder::new(outputs), ctx))
}

/// The settings of one `--out prometheus-rw=URL`, checked before any load.
fn remote_write_config(
    args: &crate::cli::RemoteWriteArgs,
    url: &str,
    ctx: &RunContext,
) -> anyhow::Result<stampede_report::remote_write::RemoteWriteConfig> {
    use http::{HeaderName, HeaderValue, header};
    let flag_err = |m: String| crate::invalid(format!("--out prometheus-rw: {m}"));
    let uri = stampede_report::remote_write::parse_url(url).map_err(flag_err)?;
    let mut headers = Vec::new();
    for h in &args.prometheus_rw_header {
        let bad =
            || crate::invalid(format!("--prometheus-rw-header `{h}`: write `NAME: VALUE`, e.g. `X-Scope-OrgID: shop`"));
        let (name, value) = h.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        headers.push((name, value));
    }
    let auth = match (&args.prometheus_rw_username, &args.prometheus_rw_password, &args.prometheus_rw_bearer_token) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(crate::invalid(
                "--prometheus-rw-bearer-token and basic auth (--prometheus-rw-username/--prometheus-rw-password) exclude each other: give one",
            ));
        }
        (None, Some(_), None) => {
            return Err(crate::invalid("--prometheus-rw-password needs --prometheus-rw-username"));
        }
        (Some(user), password, None) => {
            use base64::Engine as _;
            let raw = format!("{user}:{}", password.as_deref().unwrap_or(""));
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))
        }
        (None, None, Some(token)) => Some(format!("Bearer {}", token.trim())),
        (None, None, None) => None,
    };
    if let Some(a) = auth {
        let mut value = HeaderValue::from_str(&a)
            .map_err(|_| crate::invalid("--prometheus-rw credentials: only visible ASCII can go in an HTTP header"))?;
        value.set_sensitive(true);
        headers.push((header::AUTHORIZATION, value));
    }
    let tls = if uri.scheme_str() == Some("https") {
        let ca = match &args.prometheus_rw_ca {
            Some(f) => pem_certificates("--prometheus-rw-ca", f)?.1,
            None => Vec::new(),
        };
        let client = stampede_engine::client::ClientConfig::with_ca(
            stampede_scenario::plan::HttpVersion::Http1,
            args.prometheus_rw_insecure_skip_tls_verify,
            std::time::Duration::from_secs(10),
            0,
            &ca,
        );
        Some(client.tls.clone())
    } else {
        None
    };
    let testid = match &args.prometheus_rw_testid {
        Some(t) if t.trim().is_empty() => return Err(crate::invalid("--prometheus-rw-testid is empty")),
        Some(t) => t.trim().to_string(),
        None => stampede_report::remote_write::default_testid(ctx),
    };
    Ok(stampede_report::remote_write::RemoteWriteConfig {
        url: uri,
        headers,
        tls,
        testid,
        schema: args.prometheus_rw_schema,
        max_queue: args.prometheus_rw_max_queue as usize,
        flush_timeout: std::time::Duration::from_secs(args.prometheus_rw_flush_timeout),
    })
}

/// The comparison's options: `--confidence`, `--noise` (percent), and the
/// budgets of `--budget` flags and of the scenario's `[compare]`.
pub(crate) fn compare_options(
    confidence: f64,
    noise: f64,
    flags: &[String],
    scenario: &[stampede_scenario::budget::Budget],
) -> anyhow::Result<stampede_report::compare::Options> {
    if !(50.0..100.0).contains(&confidence) {
        return Err(crate::invalid(format!("--confidence {confidence}: give a percentage from 50 to 99.9")));
    }
    if !(0.0..100.0).contains(&noise) {
        return Err(crate::invalid(format!("--noise {noise}: give a percentage from 0 to 99")));
    }
    let mut budgets = scenario.to_vec();
    for b in flags {
        let Some((selector, allowance)) = b.split_once('=') else {
            return Err(crate::invalid(format!(
                "--budget `{b}`: write SELECTOR=ALLOWANCE, e.g. `http_req_duration{{name:checkout}}=p(95)+10%`"
            )));
        };
        budgets.push(
            stampede_report::compare::parse_budget(selector, allowance)
                .map_err(|e| crate::invalid(format!("--budget: {e}")))?,
        );
    }
    Ok(stampede_report::compare::Options { confidence: confidence / 100.0, noise: noise / 100.0, budgets })
}

/// Binds an address a flag names; failure is a flag error.
pub(crate) async fn bind_flag(flag: &str, addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        crate::invalid(format!(
            "{flag} {addr}: cannot listen there: {e} (give HOST:PORT of this machine, e.g. 127.0.0.1:9650, with a free port)"
        ))
    })
}

/// Reads a file a flag names with the size bound of [`read_bounded`]; failure is a flag error.
///
/// [`read_bounded`]: stampede_scenario::input::read_bounded
pub(crate) fn read_flag_file(flag: &'static str, path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    stampede_scenario::input::read_bounded(path, limit, flag).map_err(|e| crate::invalid(e.to_string()))
}

/// The shared token of a `--token-file`: its text, trimmed, never empty.
pub(crate) fn read_token(f: &Path) -> anyhow::Result<String> {
    let bytes = read_flag_file("--token-file", f, stampede_scenario::input::MAX_TOKEN_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| crate::invalid(format!("--token-file `{}` is not text (UTF-8)", f.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(crate::invalid(format!(
            "--token-file `{}` is empty: write the shared token in it (the coordinator and its agents use the same file)",
            f.display()
        )));
    }
    Ok(token.to_string())
}

/// Certificates of a PEM file a flag names (at least one).
pub(crate) fn pem_certificates(
    flag: &'static str,
    path: &Path,
) -> anyhow::Result<(Vec<u8>, Vec<rustls::pki_types::CertificateDer<'static>>)> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let pem = read_flag_file(flag, path, stampede_scenario::input::MAX_PEM_BYTES)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::invalid(format!("{flag} `{}` is not a valid PEM certificate file: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(crate::invalid(format!(
            "{flag} `{}` holds no certificate: expected PEM text with -----BEGIN CERTIFICATE-----",
            path.display()
        )));
    }
    Ok((pem, certs))
}

/// `--tls-cert` and `--tls-key`, checked before any agent connects (tonic
/// only says "transport error" about a bad identity, and only once serving).
pub(crate) fn server_tls(cert: &Path, key: &Path) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;
    let (cert_pem, chain) = pem_certificates("--tls-cert", cert)?;
    let key_pem = read_flag_file("--tls-key", key, stampede_scenario::input::MAX_PEM_BYTES)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        crate::invalid(format!(
            "--tls-key `{}` holds no usable private key ({e}): expected PEM text with -----BEGIN PRIVATE KEY----- (PKCS#8, RSA or EC)",
            key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| {
            crate::invalid(format!(
                "--tls-cert `{}` and --tls-key `{}` cannot serve TLS together: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    Ok(tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert_pem, key_pem)))
}
