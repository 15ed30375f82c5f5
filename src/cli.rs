//! The command line: `converge run | plan | apply | validate | values | render | grains |
//! import-sls | lease-table`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keep AWS infrastructure in line with desired-state YAML kept in git.
///
/// converge reads a directory of manifests (`apiVersion: converge/v1`, `kind`, `metadata`,
/// `spec`), compares them with what exists in AWS, and changes AWS until the two agree.
/// `run` does so continuously (watching the directory and re-checking AWS for drift on a
/// timer); `plan` shows what would change; `apply` converges once and exits; `validate`
/// checks the manifests without calling AWS. Manifests may be Jinja templates rendered per
/// service instance: `values`, `render` and `grains` show what templates see and produce;
/// `import-sls` converts Salt `boto_*` state files.
///
/// Exit codes: 0 success; 1 error (or not converged); 2 `plan` found pending changes (or
/// `import-sls` left something unconverted); 64 bad flags or an unreadable desired directory.
#[derive(Debug, Parser)]
#[command(name = "converge", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller: watch the desired directory and AWS, converge continuously.
    Run(RunArgs),
    /// One read-only sweep: print every pending change; exit 0 (nothing to do), 2 (changes
    /// pending) or 1 (error).
    Plan(PlanArgs),
    /// One converging sweep, then exit 0 only if everything converged (like `salt-call state.sls`).
    Apply(ApplyArgs),
    /// Parse and validate the desired directory only; no AWS calls. Errors print as
    /// `path:line:column: message`.
    Validate(ValidateArgs),
    /// Print the merged values of one service instance, each key with the file that set it
    /// (most generic first: values/base.yaml, <service>/values.yaml,
    /// <service>/values/<instance>.yaml). No AWS calls.
    Values(ValuesArgs),
    /// Print the fully rendered manifests, as `plan` and `apply` see them (templates rendered
    /// per instance, standard tags added). No AWS calls. Exit 0, or 1 if the tree is invalid.
    Render(RenderArgs),
    /// Parse an Auto Scaling group name or a hostname that follows the naming convention
    /// `<service>-<instance>-<region>[-<node>]` into the reference article's grains
    /// (service_name, service_instance, service_node, region as `useast1`, cluster_name,
    /// service_group) plus aws_region (`us-east-1`), e.g. for a Salt external grain. Exit 0, or
    /// 1 if the name does not follow the convention.
    Grains(GrainsArgs),
    /// Convert Salt `boto_*` state files into converge manifests. Exit 0 if everything
    /// converted, 2 if something could not be (listed on stderr; the rest is still written),
    /// 1 on error.
    #[command(name = "import-sls")]
    ImportSls(ImportSlsArgs),
    /// What a running controller is doing, one row per desired resource (read from its
    /// `/status`; `kubectl get`-style). Exit 0, or 1 if a resource or shard has failed (or the
    /// controller cannot be read).
    Status(StatusArgs),
    /// The DynamoDB table of `run --lease-table` (high availability).
    #[command(name = "lease-table", subcommand)]
    LeaseTable(LeaseTableCommand),
    /// On the instances: deploy a service's artifacts from S3 (`run`), and publish them from
    /// CI (`publish`).
    #[command(subcommand)]
    Node(NodeCommand),
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Upload FILE.tar.gz to s3://BUCKET/deploy/SERVICE/<id>.tar.gz, then point the
    /// service's marker (deploy/SERVICE/current) at it; prints the artifact id.
    Publish(NodePublishArgs),
    /// Deploy what the markers of `base` and the service name, as the reference article's
    /// deployer: link `next`, pre-release hooks, the configuration command, switch `current`
    /// atomically, post-release hooks; then register with the load balancer. With --once,
    /// exit 0 only when the service's `current` is its marker's artifact.
    Run(Box<NodeRunArgs>),
}

/// Where a command's AWS calls go (commands without the controller's full AWS flags).
#[derive(Debug, Args, Clone)]
pub struct EndpointArgs {
    /// AWS endpoint URL (e.g. a local moto).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region. Default: the standard AWS config chain.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct NodePublishArgs {
    #[arg(long, value_name = "BUCKET")]
    pub bucket: String,
    #[arg(long, value_name = "SERVICE")]
    pub service: String,
    #[arg(value_name = "FILE.tar.gz")]
    pub file: PathBuf,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

#[derive(Debug, Args, Clone)]
pub struct NodeRunArgs {
    #[arg(long, value_name = "BUCKET")]
    pub bucket: String,
    /// The service (default: from --grains, or the hostname, by the naming convention).
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// The node's name for its grains (default: the hostname), e.g. myapp-testing-useast1-898900.
    #[arg(long, value_name = "NAME")]
    pub grains: Option<String>,
    /// Where releases live: <root>/base and <root>/<service>.
    #[arg(long, value_name = "DIR", default_value = "/srv")]
    pub root: PathBuf,
    /// The configuration step, run in the release directory with the grains in its environment.
    #[arg(long, value_name = "CMD", default_value = "salt-call state.highstate")]
    pub configure: String,
    /// The classic ELB to join after the first good deployment (default: the cluster name,
    /// when --instance-id is given).
    #[arg(long, value_name = "NAME")]
    pub load_balancer: Option<String>,
    /// This instance's id (registration needs it). When neither --service, --grains nor the
    /// hostname give the service, the id comes from the instance metadata service and the
    /// grains from the instance's Auto Scaling group (its `aws:autoscaling:groupName` tag).
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,
    /// The instance metadata service (default: the SDK's, http://169.254.169.254).
    #[arg(long, value_name = "URL")]
    pub imds_endpoint: Option<String>,
    /// Deploy what the markers name, then exit.
    #[arg(long)]
    pub once: bool,
    /// How often the markers are read (also at once on SIGHUP). After the first read each is
    /// conditional on the marker's ETag: an unchanged marker costs a `304` with no body.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// HTTP address for the node's `/metrics` (`converge_node_*`), `/status` (deployed and
    /// desired artifact per service) and `/healthz`. Not served with --once.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9465")]
    pub metrics_addr: std::net::SocketAddr,
    /// Bound on each hook and on the configuration step.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub hook_timeout: Duration,
    /// Releases kept per service.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub keep: usize,
    #[command(flatten)]
    pub aws: EndpointArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum LeaseTableCommand {
    /// Create the lease table (on-demand billing; keys `pk`, `sk`) and wait until it is
    /// active. Exit 0 also when it already exists.
    Create(LeaseTableArgs),
}

#[derive(Debug, Args, Clone)]
pub struct LeaseTableArgs {
    /// The table's name.
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    #[command(flatten)]
    pub aws: EndpointArgs,
}

/// High availability: replicas share the shards through leases in DynamoDB.
#[derive(Debug, Args, Clone)]
pub struct LeaseArgs {
    /// Turn high availability on: replicas with the same --controller-id share the shards
    /// through leases in this DynamoDB table (in the process's own account and region; create
    /// it with `converge lease-table create`). Each shard is reconciled by exactly one
    /// replica; the others stand by. Without it converge runs alone.
    #[arg(long, value_name = "TABLE", env = "CONVERGE_LEASE_TABLE")]
    pub lease_table: Option<String>,
    /// This replica's name in the lease table. Default: the hostname.
    #[arg(long, value_name = "ID")]
    pub replica_id: Option<String>,
    /// How long a standby must see a lease record unchanged before it takes the shard over
    /// (the failover time after a crash). Must cover --lease-renew-deadline plus
    /// --attempt-timeout.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long after its last renewal that landed the holder may still send mutating
    /// requests; after it, they are refused (fenced) until a renewal lands.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_deadline: Duration,
    /// How often a replica reads the table, heartbeats and renews (jittered ±20 %).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub lease_retry: Duration,
}

/// An output format for data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Where the desired state lives.
#[derive(Debug, Args, Clone)]
pub struct DesiredArgs {
    /// Directory of desired-state manifests (`*.yaml`, `*.yml`, searched recursively; files
    /// and directories whose names start with `.` are skipped). May be a symlink that is
    /// swapped atomically on deploy.
    #[arg(long, value_name = "DIR", env = "CONVERGE_DESIRED")]
    pub desired: PathBuf,
}

/// How to reach AWS and what converge may do there.
#[derive(Debug, Args, Clone)]
pub struct AwsArgs {
    /// AWS endpoint URL for every service (e.g. a local moto or LocalStack). The SDK's own
    /// `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) are honoured too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region. Default: the standard AWS config chain (`AWS_REGION`, profile, IMDS).
    /// A tree that names no region is reconciled there. Given here, it also limits the controller to
    /// this region's shards and the accounts' global services (IAM, Route 53), as a
    /// one-region controller did before shards.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Only these shards, as `ALIAS/REGION` (an account alias of accounts.yaml, `default`
    /// without one); `*` for either part (`staging/*`, `*/us-east-1`); an account's IAM and
    /// Route 53 are `ALIAS/global`. Repeatable. Default: every shard of the tree.
    #[arg(long = "shard", value_name = "ALIAS/REGION")]
    pub shards: Vec<crate::core::shard::ShardPattern>,
    /// Identifies this controller: resources it creates carry the tag
    /// `converge:managed-by=<ID>`, and it only ever deletes resources carrying its own ID.
    #[arg(long, value_name = "ID", default_value = "converge")]
    pub controller_id: String,
    /// Maximum AWS SDK attempts per call (see --retry-mode).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_attempts: u32,
    /// Time limit for one AWS call, retries included. A kind's listing (many paced calls) may
    /// take this plus 30 s for every started 100 resources.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub call_timeout: Duration,
    /// Time limit for one attempt of an AWS call.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub attempt_timeout: Duration,
    /// How many resources of one kind are changed concurrently.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
    /// Client-side pacing: requests per second per AWS service, as comma-separated
    /// `SERVICE=RATE` pairs (RATE a number, or `off`) that override the defaults
    /// sqs=50, ec2=15, iam=10, elb=10, route53=5, autoscaling=10, cloudwatch=8, tagging=5 (each below
    /// the service's published limit). Every request, retries included, waits for a token.
    #[arg(long, value_name = "SERVICE=RATE,...")]
    pub rate_limit: Option<crate::aws::pacing::RateOverrides>,
    /// SDK retry mode: `standard` (default) retries with jittered exponential backoff;
    /// `adaptive` also rate-limits the client after AWS throttles it (down to 0.5 requests/s
    /// per service under sustained throttling, on top of the --rate-limit pacing).
    #[arg(long, value_enum, default_value_t = RetryMode::Standard)]
    pub retry_mode: RetryMode,
}

/// The AWS SDK's retry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetryMode {
    /// Exponential backoff with jitter, plus client-side rate limiting after throttling.
    Adaptive,
    /// Exponential backoff with jitter.
    Standard,
}

/// Logging.
#[derive(Debug, Args, Clone)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Log filter, in `tracing` env-filter syntax (also `RUST_LOG`).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Address for the console (`/`), `/status`, `/metrics`, `/healthz` and `/readyz`.
    /// Loopback by default; port 0 picks a free port (the chosen address is logged).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Ask for a credential on the console, `/status` and `/source` (never on `/metrics`,
    /// `/healthz`, `/readyz`). One per line: `bearer <token>` (16+ characters), or
    /// `user:{SHA}…` as `htpasswd -s` writes it (basic auth). Meant for a non-loopback
    /// --metrics-addr.
    #[arg(long, value_name = "PATH")]
    pub http_auth_file: Option<PathBuf>,
    /// Drift-check interval: every kind re-reads AWS and corrects drift this often.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub resync: Duration,
    /// Delete resources owned by this controller (tag `converge:managed-by=<ID>`) that are no
    /// longer in the desired state. Off by default. An empty desired tree or a failed listing
    /// never deletes anything.
    #[arg(long)]
    pub prune: bool,
    /// Most deletions allowed per desired generation (across all kinds and shards); the rest are refused,
    /// logged and counted in `converge_deletions_refused_total`.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_deletions: u32,
    /// Compute and report the plan every sweep, but call no mutating AWS API.
    #[arg(long)]
    pub observe_only: bool,
    /// First retry delay of a failing resource; doubles (with jitter) up to --backoff-max.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub backoff_min: Duration,
    /// Longest retry delay of a failing resource.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    pub backoff_max: Duration,
    /// Quiet period after a change in the desired directory before it is reloaded.
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// The desired directory is also checked this often (a stat per file), in case a filesystem
    /// event was missed; it is read again only if something changed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Append one JSON line per mutating AWS change to this file (time, revision, kind, name,
    /// action, fields changed, outcome). The same records go to the log at info.
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// On SIGTERM/SIGINT, how long in-flight AWS calls may take to finish before exit
    /// (held leases are released once they have).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    #[command(flatten)]
    pub lease: LeaseArgs,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Also show owned resources that `--prune` would delete.
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Delete owned resources absent from the desired state (see `run --prune`).
    #[arg(long)]
    pub prune: bool,
    /// Most deletions allowed in this run.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_deletions: u32,
    /// Append one JSON line per mutating AWS change to this file (see `run --audit-log`).
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// Give up (exit 1) if not converged within this time.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// First retry delay of a failing resource.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub backoff_min: Duration,
    /// Longest retry delay of a failing resource.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub backoff_max: Duration,
}

#[derive(Debug, Args, Clone)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// The region of a tree that names none. Default: `AWS_REGION`, `AWS_DEFAULT_REGION`.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ValuesArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// The service (its directory holds `service.yaml`; or the `service_name` it declares).
    pub service: String,
    /// The instance, as declared in the service's `service.yaml`.
    pub instance: String,
    /// `yaml`: the values, each leaf followed by `# file:line:column`; `json`: `{"values",
    /// "sources", "files"}`.
    #[arg(long, value_enum, default_value_t = DataFormat::Yaml)]
    pub format: DataFormat,
}

#[derive(Debug, Args, Clone)]
pub struct RenderArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Only this region's shards and the global services (IAM, Route 53); also the region of
    /// a tree that names none (default: `AWS_REGION`, `AWS_DEFAULT_REGION`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Only what was rendered for this instance, as `<service>/<instance>`.
    #[arg(long, value_name = "SERVICE/INSTANCE")]
    pub instance: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct GrainsArgs {
    /// e.g. `myapp-testing-useast1` or `myapp-testing-useast1-898900` (a domain is ignored).
    pub name: String,
    #[arg(long, value_enum, default_value_t = DataFormat::Json)]
    pub format: DataFormat,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// The controller's --metrics-addr.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub addr: String,
    /// Only resources of this kind (e.g. `Queue`).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only resources in this state.
    #[arg(long, value_enum)]
    pub state: Option<crate::status_view::ViewState>,
    /// Only resources of this shard (`<account alias>/<region>`).
    #[arg(long, value_name = "ALIAS/REGION")]
    pub shard: Option<String>,
    /// `table` (default), `wide` (adds what a resource waits for, its error and source) or
    /// `json` (the selected rows).
    #[arg(short = 'o', long, value_enum, default_value_t = StatusOutput::Table)]
    pub output: StatusOutput,
    /// Print again every --interval until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
    /// A file holding a bearer token of the controller's --http-auth-file.
    #[arg(long, value_name = "PATH", env = "CONVERGE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusOutput {
    Table,
    Wide,
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct ImportSlsArgs {
    /// Salt state files (`*.sls`) or state trees (every `.sls` below but `top.sls`), rendered
    /// as Salt's Jinja then read as YAML; `include:` is followed.
    #[arg(required = true, value_name = "FILE.sls|DIR")]
    pub files: Vec<PathBuf>,
    /// Pillar data (YAML maps, deep-merged in order, later wins) for `pillar[...]` and
    /// `salt['pillar.get'](...)`, over what --pillar-root builds. May be repeated.
    #[arg(long, value_name = "FILE")]
    pub pillar: Vec<PathBuf>,
    /// A pillar tree: its `top.sls` is evaluated for the minion (--grains, --grain) and the
    /// files it names are merged in order, later wins.
    #[arg(long, value_name = "DIR")]
    pub pillar_root: Option<PathBuf>,
    /// The minion id: a hostname or group name following the naming convention gives the
    /// grains `converge grains` prints (e.g. `myapp-testing-useast1-898900`).
    #[arg(long, value_name = "NAME")]
    pub grains: Option<String>,
    /// One grain, over those of --grains (`key=value`). May be repeated.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_grain)]
    pub grain: Vec<(String, String)>,
    /// What `salt://`, `include:` and Jinja imports resolve against. Default: the directory
    /// given, or the first file's directory.
    #[arg(long, value_name = "DIR")]
    pub file_root: Option<PathBuf>,
    /// Directory the manifests are written to (created if missing): `<sls path>/<kind>.yaml`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn parse_grain(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

/// Parses `90s`, `5m`, `1h30m`, `250ms` (humantime), or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try 60s, 5m, 250ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grain_is_key_equals_value() {
        assert_eq!(
            parse_grain("role=web").unwrap(),
            ("role".into(), "web".into())
        );
        assert_eq!(parse_grain("k=a=b").unwrap(), ("k".into(), "a=b".into()));
        for bad in ["role", "=web", ""] {
            assert!(
                parse_grain(bad).unwrap_err().contains("is not key=value"),
                "{bad}"
            );
        }
    }
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
    }
}
