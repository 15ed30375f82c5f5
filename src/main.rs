//! converge's start-up script: arguments → logging → desired state → AWS clients → engine.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::Parser;
use tokio::sync::watch;

use aws_config::SdkConfig;
use converge::aws::{self, AwsError, AwsOptions};
use converge::cli::{AwsArgs, Cli, Command, DataFormat, LogArgs, LogFormat};
use converge::core::shard::Selection;
use converge::core::DesiredTree;
use converge::desired::watch::Reloader;
use converge::desired::{self, LoadError, LoadOptions};
use converge::engine::audit::AuditLog;
use converge::engine::fleet::Fleet;
use converge::engine::{Mode, Settings};
use converge::lease::{Coordinator, Grants, LeaseSettings, LeaseTable, Me};
use converge::metrics::Metrics;
use converge::supervisor::Supervisor;
use converge::{http, kinds, plan};

/// Exit code for bad usage (BSD `EX_USAGE`).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    converge::mem::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("converge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "converge failed");
            eprintln!("converge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(a) => Ok(validate(&a.desired.desired, a.region.as_deref())),
        Command::Values(a) => Ok(values(&a)),
        Command::Render(a) => Ok(render(&a)),
        Command::Grains(a) => Ok(grains(&a)),
        Command::ImportSls(a) => Ok(import_sls(&a)),
        Command::Status(a) => Ok(status(&a)),
        Command::Plan(a) => {
            init_logging(&a.log, "warn");
            let settings = Settings {
                mode: Mode::Plan,
                observe_only: true,
                prune: a.prune,
                ..settings_from(&a.aws)
            };
            one_shot(&a.desired.desired, &a.aws, settings, None, None).await
        }
        Command::Apply(a) => {
            init_logging(&a.log, "info");
            let settings = Settings {
                mode: Mode::Apply,
                prune: a.prune,
                max_deletions: a.max_deletions,
                backoff_min: a.backoff_min,
                backoff_max: a.backoff_max,
                resync: Duration::from_secs(5),
                ..settings_from(&a.aws)
            };
            one_shot(
                &a.desired.desired,
                &a.aws,
                settings,
                Some(a.timeout),
                a.audit_log.as_deref(),
            )
            .await
        }
        Command::Run(a) => {
            init_logging(&a.log, "info");
            run(a).await
        }
        Command::LeaseTable(converge::cli::LeaseTableCommand::Create(a)) => {
            lease_table_create(&a).await
        }
        Command::Node(converge::cli::NodeCommand::Publish(a)) => node_publish(&a).await,
        Command::Node(converge::cli::NodeCommand::Run(a)) => {
            init_logging(&a.log, "info");
            node_run(&a).await
        }
    }
}

/// The configuration every node client is built from, loaded once per process (long bounds:
/// artifacts can be large).
async fn node_aws_config(a: &converge::cli::EndpointArgs) -> SdkConfig {
    let opts = AwsOptions {
        endpoint_url: a.endpoint_url.clone(),
        region: a.region.clone(),
        max_attempts: 3,
        call_timeout: Duration::from_secs(300),
        attempt_timeout: Duration::from_secs(120),
        rate_limits: aws::pacing::RateLimits::default(),
        adaptive_retry: false,
    };
    aws::base_config(&opts, None).await
}

/// The node's clients (S3 path-style, which emulators need, whenever an endpoint is given).
fn node_clients(
    a: &converge::cli::EndpointArgs,
    base: &SdkConfig,
    state: Arc<converge::node::observe::NodeState>,
) -> converge::node::NodeClients {
    let s3 = aws_sdk_s3::config::Builder::from(base)
        .force_path_style(a.endpoint_url.is_some())
        .build();
    converge::node::NodeClients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        elb: aws_sdk_elasticloadbalancing::Client::new(base),
        markers: converge::node::Markers::default(),
        state,
    }
}

/// `converge node publish`.
async fn node_publish(a: &converge::cli::NodePublishArgs) -> anyhow::Result<ExitCode> {
    let state = converge::node::observe::NodeState::new(None).context("node metrics")?;
    let base = node_aws_config(&a.aws).await;
    let clients = node_clients(&a.aws, &base, Arc::new(state));
    match converge::node::publish(&clients.s3, &a.bucket, &a.service, &a.file).await {
        Ok(id) => {
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("converge: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `converge node run`: a pass (--once), or passes every --poll-interval until SIGTERM, which
/// deregisters the instance first.
async fn node_run(a: &converge::cli::NodeRunArgs) -> anyhow::Result<ExitCode> {
    let name = a.grains.clone().unwrap_or_else(converge::lease::hostname);
    let mut grains = converge::template::naming::parse_name(&name).ok();
    let mut instance_id = a.instance_id.clone();
    let base = node_aws_config(&a.aws).await;
    if a.service.is_none() && grains.is_none() {
        // First boot: the hostname is not named yet; the group is.
        let identity = async {
            let id = match &instance_id {
                Some(id) => id.clone(),
                None => converge::node::identity::instance_id(a.imds_endpoint.as_deref()).await?,
            };
            let ec2 = aws_sdk_ec2::Client::new(&base);
            let group = converge::node::identity::group_name(&ec2, &id).await?;
            Ok::<_, converge::node::NodeError>((id, group))
        };
        match identity.await {
            Ok((id, group)) => match converge::template::naming::parse_name(&group) {
                Ok(g) => {
                    tracing::info!(instance = %id, group = %group, "grains from the Auto Scaling group");
                    grains = Some(g);
                    instance_id = Some(id);
                }
                Err(e) => {
                    eprintln!("converge: the instance's group: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            },
            Err(e) => {
                eprintln!("converge: `{name}` does not follow the naming convention, and {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let Some(service) = a
        .service
        .clone()
        .or_else(|| grains.as_ref().map(|g| g.service_name.clone()))
    else {
        eprintln!("converge: `{name}` does not follow the naming convention: give --service (or --grains NAME)");
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let mut env = Vec::new();
    if let Some(g) = &grains {
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(g.salt_grains()) {
            for (k, v) in m {
                env.push((
                    format!("CONVERGE_{}", k.to_uppercase()),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    env.push(("CONVERGE_SERVICE".into(), service.clone()));
    let load_balancer = a
        .load_balancer
        .clone()
        .or_else(|| grains.as_ref().map(|g| g.cluster_name.clone()));
    let opts = converge::node::NodeOptions {
        bucket: a.bucket.clone(),
        service,
        root: a.root.clone(),
        configure: a.configure.clone(),
        env,
        hook_timeout: a.hook_timeout,
        keep: a.keep.max(1),
        load_balancer: load_balancer.filter(|_| instance_id.is_some()),
        instance_id,
    };
    let state = Arc::new(
        converge::node::observe::NodeState::new(opts.load_balancer.clone())
            .context("node metrics")?,
    );
    if !a.once {
        let listener = match tokio::net::TcpListener::bind(a.metrics_addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("converge: cannot listen on {}: {e}", a.metrics_addr);
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        };
        tracing::info!(addr = %listener.local_addr().unwrap_or(a.metrics_addr), "node metrics and status");
        tokio::spawn(converge::node::observe::serve(listener, state.clone()));
    }
    let clients = node_clients(&a.aws, &base, state.clone());
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let mut registered = false;
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = std::time::Instant::now();
        let result = converge::node::pass(&clients, &opts).await;
        match &result {
            Ok(outcome) => {
                tracing::info!(?outcome, took = ?started.elapsed(), "node pass");
                backoff = Duration::from_secs(1);
                if let (false, Some(lb), Some(id)) =
                    (registered, &opts.load_balancer, &opts.instance_id)
                {
                    match converge::node::membership(&clients, lb, id, true).await {
                        Ok(()) => {
                            registered = true;
                            state.set_registered(true);
                            tracing::info!(load_balancer = %lb, instance = %id, "registered after a good deployment");
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot register yet"),
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "deployment failed; current left as it was")
            }
        }
        if a.once {
            return Ok(match result {
                Ok(_) if opts.load_balancer.is_none() || registered => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("converge: {e}");
                    ExitCode::FAILURE
                }
            });
        }
        let wait = if result.is_ok() {
            a.poll_interval
        } else {
            backoff
        };
        backoff = (backoff * 2).min(Duration::from_secs(300));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // SIGHUP: look at the markers now (CI can signal a node after publishing).
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reading the markers now");
            }
            _ = wait_for_signal() => {
                if let (true, Some(lb), Some(id)) = (registered, &opts.load_balancer, &opts.instance_id) {
                    match converge::node::membership(&clients, lb, id, false).await {
                        Ok(()) => state.set_registered(false),
                        Err(e) => tracing::warn!(error = %e, "cannot deregister"),
                    }
                }
                tracing::info!("stopped");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

fn settings_from(a: &AwsArgs) -> Settings {
    Settings {
        controller_id: a.controller_id.clone(),
        concurrency: a.concurrency,
        call_deadline: a.call_timeout + Duration::from_secs(30),
        ..Settings::default()
    }
}

fn aws_options(a: &AwsArgs) -> AwsOptions {
    AwsOptions {
        endpoint_url: a.endpoint_url.clone(),
        region: a.region.clone(),
        max_attempts: a.max_attempts,
        call_timeout: a.call_timeout,
        attempt_timeout: a.attempt_timeout,
        rate_limits: match &a.rate_limit {
            Some(o) => aws::pacing::RateLimits::default().with_overrides(o),
            None => aws::pacing::RateLimits::default(),
        },
        adaptive_retry: a.retry_mode == converge::cli::RetryMode::Adaptive,
    }
}

fn init_logging(log: &LogArgs, default: &str) {
    use tracing_subscriber::EnvFilter;
    let level = if log.log_level == "info" {
        default
    } else {
        log.log_level.as_str()
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match log.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// The region of resources that name none, for commands that do not reach AWS: the flag,
/// else the SDK's environment variables (the profile's region needs the AWS config loaded).
fn offline_region(flag: Option<&str>) -> LoadOptions {
    let env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.is_empty()));
    LoadOptions {
        default_region: flag.map(str::to_string).or(env),
    }
}

/// `converge validate`: every problem as `path:line:column: message`.
fn validate(root: &std::path::Path, region: Option<&str>) -> ExitCode {
    match kinds::load(root, &offline_region(region)) {
        Ok(tree) => {
            println!("ok: {} resource(s) in {}", tree.len(), root.display());
            if tree.shards.len() > 1 || tree.accounts.declared {
                for (id, set) in &tree.shards {
                    println!("  {id}: {} resource(s)", set.len());
                }
            }
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{} problem(s)", problems.len());
            ExitCode::FAILURE
        }
        Err(e @ LoadError::Unreadable { .. }) => {
            eprintln!("converge: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Prints problems as `validate` does; the exit code for a failed load.
fn report_load_error(e: LoadError) -> ExitCode {
    match e {
        LoadError::Invalid(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("{} problem(s)", problems.len());
            ExitCode::FAILURE
        }
        e @ LoadError::Unreadable { .. } => {
            eprintln!("converge: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// `converge values`: one instance's merged values, each key with the file that set it.
fn values(a: &converge::cli::ValuesArgs) -> ExitCode {
    let (node, layers) = match desired::instance_values(&a.desired.desired, &a.service, &a.instance)
    {
        Ok(v) => v,
        Err(e) => return report_load_error(e),
    };
    match a.format {
        DataFormat::Yaml => {
            let mut text = format!(
                "# values of {}/{}, most generic first:\n",
                a.service, a.instance
            );
            for l in &layers {
                text.push_str(&format!("#   {l}\n"));
            }
            text.push_str(&node.annotated());
            emit(&text);
        }
        DataFormat::Json => {
            let sources: serde_json::Map<String, serde_json::Value> = node
                .sources()
                .into_iter()
                .map(|(k, o)| (k, o.to_string().into()))
                .collect();
            let doc = serde_json::json!({
                "service": a.service,
                "instance": a.instance,
                "files": layers.iter().map(|l| serde_json::json!({
                    "file": l.file.display().to_string(),
                    "present": l.present,
                })).collect::<Vec<_>>(),
                "values": node.to_json(),
                "sources": sources,
            });
            emit(&(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"));
        }
    }
    ExitCode::SUCCESS
}

/// `converge render`: the manifests as plan and apply see them.
fn render(a: &converge::cli::RenderArgs) -> ExitCode {
    let tree = match kinds::load(&a.desired.desired, &offline_region(a.region.as_deref())) {
        Ok(t) => t,
        Err(e) => return report_load_error(e),
    };
    let selection = Selection {
        patterns: Vec::new(),
        region: a.region.clone(),
    };
    let mut sets = Vec::new();
    for (id, set) in &tree.shards {
        if selection.selects(id) {
            sets.push(&**set);
        } else {
            eprintln!(
                "converge: shard {id} left out (--region): {} resource(s)",
                set.len()
            );
        }
    }
    emit(&desired::to_manifests(&sets, a.instance.as_deref()));
    ExitCode::SUCCESS
}

/// `converge grains`: a name that follows the naming convention, as grains.
/// `converge status`: the running controller's resources, once or every --interval.
fn status(a: &converge::cli::StatusArgs) -> ExitCode {
    use converge::cli::StatusOutput;
    use converge::status_view as view;
    let token = match &a.token_file {
        None => None,
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => {
                eprintln!("converge: cannot read --token-file {}: {e}", p.display());
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    let filter = view::Filter {
        kind: a.kind.clone(),
        state: a.state,
        shard: a.shard.clone(),
    };
    loop {
        let read = converge::http::client::get(
            &a.addr,
            "/status",
            token.as_deref(),
            std::time::Duration::from_secs(10),
        );
        let doc = match read {
            Ok((200, body)) => serde_json::from_str::<serde_json::Value>(&body)
                .map_err(|e| format!("{}/status is not JSON: {e}", a.addr)),
            Ok((401, _)) => Err(format!(
                "{}/status needs a credential: pass --token-file (a bearer token of its --http-auth-file)",
                a.addr
            )),
            Ok((code, body)) => Err(format!("{}/status answered {code}: {}", a.addr, body.trim())),
            Err(e) => Err(e.to_string()),
        };
        let code = match doc {
            Err(e) => {
                eprintln!("converge: {e}");
                ExitCode::FAILURE
            }
            Ok(doc) => {
                let rows = view::select(&doc, &filter);
                let text = match a.output {
                    StatusOutput::Json => {
                        serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
                    }
                    o => view::table(
                        &doc,
                        &rows,
                        o == StatusOutput::Wide,
                        std::time::SystemTime::now(),
                    ),
                };
                if a.watch && std::io::stdout().is_terminal() {
                    // Clear the screen and go home, like `watch`.
                    print!("\x1b[H\x1b[2J");
                }
                emit(&text);
                if view::any_failed(&doc) {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
        };
        if !a.watch {
            return code;
        }
        std::thread::sleep(a.interval);
    }
}

fn grains(a: &converge::cli::GrainsArgs) -> ExitCode {
    match converge::template::naming::parse_name(&a.name) {
        Ok(g) => {
            let g = g.salt_grains();
            let text = match a.format {
                DataFormat::Json => serde_json::to_string_pretty(&g)
                    .map(|t| t + "\n")
                    .map_err(|e| e.to_string()),
                DataFormat::Yaml => serde_saphyr::to_string(&g).map_err(|e| e.to_string()),
            };
            match text {
                Ok(t) => {
                    emit(&t);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("converge: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("converge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `converge import-sls`: Salt boto_* states to manifests.
fn import_sls(a: &converge::cli::ImportSlsArgs) -> ExitCode {
    let opts = converge::salt::ImportOptions {
        inputs: a.files.clone(),
        pillars: a.pillar.clone(),
        pillar_root: a.pillar_root.clone(),
        minion: a.grains.clone(),
        grains: a.grain.clone(),
        file_root: a.file_root.clone(),
        out: a.out.clone(),
    };
    match converge::salt::import(&opts) {
        Ok(report) => {
            for f in &report.written {
                println!("wrote {}", f.display());
            }
            for n in &report.notes {
                eprintln!("note: {n}");
            }
            for n in &report.not_converted {
                eprintln!("not converted: {n}");
            }
            eprint!("{}", converge::salt::summary_table(&report));
            eprintln!(
                "{} resource(s) converted, {} thing(s) not converted",
                report.converted,
                report.not_converted.len()
            );
            if report.not_converted.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("converge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the tree for plan/apply; `Err(code)` to exit with.
fn load_once(root: &std::path::Path, opts: &LoadOptions) -> Result<DesiredTree, ExitCode> {
    match kinds::load(root, opts) {
        Ok(mut tree) => {
            tree.set_generation(1);
            Ok(tree)
        }
        Err(LoadError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "converge: the desired state is invalid ({} problem(s)); nothing done",
                problems.len()
            );
            Err(ExitCode::FAILURE)
        }
        Err(e @ LoadError::Unreadable { .. }) => {
            eprintln!("converge: {e}");
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

/// What the shards need from the command line: the process's AWS configuration (with a
/// region) and which shards to run.
struct AwsSetup {
    opts: AwsOptions,
    base: SdkConfig,
    selection: Selection,
}

/// The AWS setup, and how to load the tree (resources that name no region go to the
/// process's when the tree names several).
async fn aws_setup(a: &AwsArgs) -> Result<(AwsSetup, LoadOptions), AwsError> {
    let opts = aws_options(a);
    let base = aws::base_config(&opts, None).await;
    let region = aws::region_of(&base).ok_or(AwsError::NoRegion)?;
    let selection = Selection {
        patterns: a.shards.clone(),
        region: a.region.clone(),
    };
    let load = LoadOptions {
        default_region: Some(region),
    };
    Ok((
        AwsSetup {
            opts,
            base,
            selection,
        },
        load,
    ))
}

/// The supervisor that starts the shards of `fleet` (only the shards `grants` grants, with
/// high availability).
fn supervisor(
    fleet: &Arc<Fleet>,
    aws: AwsSetup,
    audit: Arc<AuditLog>,
    shutdown: watch::Receiver<bool>,
    grants: Option<Grants>,
) -> Arc<Supervisor> {
    let mut supervisor = Supervisor::new(
        fleet.clone(),
        aws.selection,
        aws.opts,
        aws.base,
        audit,
        shutdown,
    );
    if let Some(g) = grants {
        supervisor = supervisor.with_grants(g);
    }
    Arc::new(supervisor)
}

/// The DynamoDB timeouts of the lease table: short enough that a renewal fails (and is
/// retried) well within the renew deadline.
fn lease_timeouts(renew_deadline: Duration) -> (Duration, Duration) {
    let attempt = (renew_deadline / 4).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let call = (renew_deadline / 2).clamp(Duration::from_millis(400), Duration::from_secs(5));
    (attempt, call)
}

/// The lease table of `table` in the process's own account and region.
fn lease_table(
    base: &SdkConfig,
    metrics: &Arc<Metrics>,
    table: &str,
    namespace: &str,
    renew_deadline: Duration,
) -> LeaseTable {
    let region = aws::region_of(base).unwrap_or_default();
    let counter = aws::CallCounter::new(metrics.clone(), aws::LEASE_TABLE_ACCOUNT, &region);
    let (attempt, call) = lease_timeouts(renew_deadline);
    let client = aws::lease_client(base, counter, attempt, call);
    LeaseTable::new(client, table, &region, namespace)
}

/// `converge lease-table create`.
async fn lease_table_create(a: &converge::cli::LeaseTableArgs) -> anyhow::Result<ExitCode> {
    let opts = AwsOptions {
        endpoint_url: a.aws.endpoint_url.clone(),
        region: a.aws.region.clone(),
        max_attempts: 3,
        call_timeout: Duration::from_secs(60),
        attempt_timeout: Duration::from_secs(20),
        rate_limits: aws::pacing::RateLimits::default(),
        adaptive_retry: false,
    };
    let base = aws::base_config(&opts, None).await;
    let Some(region) = aws::region_of(&base) else {
        eprintln!("converge: {}", AwsError::NoRegion);
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let table = lease_table(&base, &metrics, &a.table, "-", Duration::from_secs(40));
    match table.create().await {
        Ok(true) => println!("created lease table {} in {region}", a.table),
        Ok(false) => println!("lease table {} already exists in {region}", a.table),
        Err(e) => {
            eprintln!("converge: cannot create lease table {}: {e}", a.table);
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan` and `apply`: run every selected shard's controllers until they are done (or the
/// timeout).
async fn one_shot(
    root: &std::path::Path,
    aws_args: &AwsArgs,
    settings: Settings,
    timeout: Option<Duration>,
    audit_log: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    if let Err(e) = desired::check_readable(root) {
        eprintln!("converge: {e}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let (aws, load) = match aws_setup(aws_args).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("converge: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let tree = match load_once(root, &load) {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let audit = match open_audit(audit_log) {
        Ok(a) => Arc::new(a),
        Err(code) => return Ok(code),
    };
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let (_tree_tx, tree_rx) = watch::channel(Some(Arc::new(tree)));
    let (_shutdown_tx, shutdown_rx) = watch::channel(false);
    let mode = settings.mode;
    let fleet = Arc::new(Fleet::new(settings, metrics.clone(), tree_rx));
    let supervisor = supervisor(&fleet, aws, audit, shutdown_rx, None);
    let all = supervisor.run();
    let timed_out = match timeout {
        Some(t) => tokio::time::timeout(t, all).await.is_err(),
        None => {
            all.await;
            false
        }
    };
    let reports = plan::reports(&fleet);
    let code = if mode == Mode::Plan {
        let (text, sum) = plan::render_plan(&reports);
        print!("{text}");
        eprintln!("{}", plan::render_calls(&metrics));
        if sum.failed + sum.kind_errors > 0 {
            ExitCode::FAILURE
        } else if sum.to_change + sum.to_delete + sum.waiting > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    } else {
        let (text, ok) = plan::render_apply(&reports);
        print!("{text}");
        eprintln!("{}", plan::render_calls(&metrics));
        if timed_out {
            eprintln!("converge: not converged within the --timeout");
        }
        if ok && !timed_out {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    };
    Ok(code)
}

/// `converge run`: the long-running controller.
async fn run(a: converge::cli::RunArgs) -> anyhow::Result<ExitCode> {
    let root = a.desired.desired.clone();
    if let Err(e) = desired::check_readable(&root) {
        eprintln!("converge: {e}");
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let audit = match open_audit(a.audit_log.as_deref()) {
        Ok(a) => Arc::new(a),
        Err(code) => return Ok(code),
    };
    let auth = match &a.http_auth_file {
        None => None,
        Some(path) => match http::Auth::load(path) {
            Ok(auth) => Some(auth),
            Err(e) => {
                eprintln!("converge: --http-auth-file {e}");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        },
    };
    if auth.is_none() && !a.metrics_addr.ip().is_loopback() {
        tracing::warn!(addr = %a.metrics_addr, "the console, /status and /source are served without authentication on a non-loopback address; see --http-auth-file");
    }
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let (aws, load) = match aws_setup(&a.aws).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("converge: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let lease = match &a.lease.lease_table {
        None => None,
        Some(table) => {
            let settings = LeaseSettings {
                table: table.clone(),
                replica_id: a
                    .lease
                    .replica_id
                    .clone()
                    .unwrap_or_else(converge::lease::hostname),
                duration: a.lease.lease_duration,
                renew_deadline: a.lease.lease_renew_deadline,
                retry: a.lease.lease_retry,
            };
            if !converge::core::fence::SUSPEND_AWARE {
                eprintln!("converge: --lease-table needs a clock that keeps counting through a host suspend (Linux CLOCK_BOOTTIME); this platform has none");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            if let Err(e) = settings.check(a.aws.attempt_timeout) {
                eprintln!("converge: {e}");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let t = lease_table(
                &aws.base,
                &metrics,
                table,
                &a.aws.controller_id,
                settings.renew_deadline,
            );
            if let Err(e) = t.check().await {
                eprintln!("converge: {e}");
                return Ok(ExitCode::FAILURE);
            }
            Some((t, settings))
        }
    };
    let (mut reloader, tree_rx) = Reloader::new(
        root.clone(),
        {
            // Reloads re-render only the files whose inputs changed.
            let cache = converge::desired::reuse::RenderCache::default();
            Box::new(move |root| kinds::load_stamped(root, &load, &cache))
        },
        metrics.clone(),
    );
    // An invalid tree at start-up is logged; the controller serves and waits for a good one.
    let _ = reloader.reload();
    let settings = Settings {
        mode: Mode::Run,
        observe_only: a.observe_only,
        prune: a.prune,
        max_deletions: a.max_deletions,
        resync: a.resync,
        backoff_min: a.backoff_min,
        backoff_max: a.backoff_max,
        ..settings_from(&a.aws)
    };
    let listener = tokio::net::TcpListener::bind(a.metrics_addr)
        .await
        .with_context(|| format!("binding --metrics-addr {}", a.metrics_addr))?;
    let local = listener.local_addr().context("reading the bound address")?;
    tracing::info!(addr = %local, "serving the console at /, and /metrics, /healthz, /readyz, /status");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tracing::info!(
        region = aws::region_of(&aws.base).as_deref().unwrap_or("-"),
        controller_id = %settings.controller_id,
        observe_only = settings.observe_only,
        prune = settings.prune,
        resync = ?settings.resync,
        "converge running"
    );
    let selection = aws.selection.clone();
    let fleet = Arc::new(Fleet::new(settings, metrics.clone(), tree_rx));
    let (mut coordinator, grants) = match lease {
        None => (None, None),
        Some((table, lease)) => {
            let me = Me {
                replica: lease.replica_id.clone(),
                process: Coordinator::process_id(),
            };
            let (c, g) = Coordinator::new(table, lease, me, fleet.clone(), selection);
            (Some(c), Some(g))
        }
    };
    let web = Arc::new(http::Web::new(
        fleet.clone(),
        audit.clone(),
        reloader.reports(),
        auth,
    ));
    let supervisor = supervisor(&fleet, aws, audit, shutdown_rx.clone(), grants);
    if let Some(c) = coordinator.as_mut() {
        c.share_facts(supervisor.clone());
    }
    let shards = tokio::spawn(supervisor.run());
    let leases = coordinator.map(|c| tokio::spawn(c.run(shutdown_rx.clone())));
    let watcher = tokio::spawn(reloader.run(a.debounce, a.poll_interval, shutdown_rx.clone()));
    let mut http_shutdown = shutdown_rx.clone();
    let server = tokio::spawn(http::serve(listener, web, async move {
        let _ = http_shutdown.wait_for(|s| *s).await;
    }));

    wait_for_signal().await;
    tracing::info!(grace = ?a.shutdown_grace, "shutting down: no new sweeps; waiting for in-flight calls");
    let _ = shutdown_tx.send(true);
    let drain = async {
        let _ = shards.await;
        // Every shard's loops have stopped: its lease can be released.
        if let Some(l) = leases {
            let _ = l.await;
        }
        let _ = watcher.await;
        let _ = server.await;
    };
    if tokio::time::timeout(a.shutdown_grace, drain).await.is_err() {
        tracing::warn!("grace period over; exiting with calls still in flight");
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Opens `--audit-log`; an unwritable path is a usage error (exit 64, before any port is bound).
fn open_audit(path: Option<&std::path::Path>) -> Result<AuditLog, ExitCode> {
    match path {
        None => Ok(AuditLog::default()),
        Some(p) => AuditLog::open(p).map_err(|e| {
            eprintln!("converge: cannot open --audit-log {}: {e}", p.display());
            ExitCode::from(EXIT_USAGE)
        }),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
