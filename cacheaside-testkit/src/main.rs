//! `aerospike-testkit`: runs a testkit server until SIGINT or SIGTERM.

use cacheaside_testkit::{NamespaceConfig, TestServer};

const USAGE: &str = "usage: aerospike-testkit [--port PORT] [--nodes N] [--namespace NAME[:key=value,...]]...\n\
  --nodes N: a cluster of N nodes (default 1) listening on PORT, PORT+1, ... (replication factor 2)\n\
  namespace settings: nsup-period, default-ttl (seconds), max-record-size (bytes), allow-ttl-without-nsup\n\
  example: aerospike-testkit --port 3000 --nodes 3 --namespace test --namespace nottl:nsup-period=0";

fn parse_args(
    args: impl Iterator<Item = String>,
) -> Result<(u16, usize, Vec<NamespaceConfig>), String> {
    let mut port = 3000;
    let mut nodes = 1;
    let mut namespaces = Vec::new();
    let mut args = args;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" | "-p" => {
                port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--nodes" => {
                nodes = value("--nodes")?
                    .parse()
                    .map_err(|e| format!("--nodes: {e}"))?;
                if nodes == 0 {
                    return Err("--nodes: at least 1".to_owned());
                }
            }
            "--namespace" | "-n" => {
                namespaces.push(NamespaceConfig::parse(&value("--namespace")?)?)
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((port, nodes, namespaces))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let (port, nodes, namespaces) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let builder = namespaces.into_iter().fold(
        TestServer::builder().port(port).nodes(nodes),
        |builder, ns| builder.namespace(ns),
    );
    let server = match builder.start().await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port} ({nodes} node(s)): {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Handlers go in before the ready line: a signal sent as soon as it is read must not find the
    // default action (which kills the process with a non-zero status).
    let shutdown = ShutdownSignals::install();
    // The hosts come last, so that a script can take the line's last word as the seed list.
    if nodes == 1 {
        println!("aerospike-testkit listening on {}", server.hosts());
    } else {
        println!(
            "aerospike-testkit ({nodes} nodes) listening on {}",
            server.hosts()
        );
    }
    shutdown.wait().await;
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), registered when created.
struct ShutdownSignals {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    fn install() -> ShutdownSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::interrupt())
                .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
                .ok();
            ShutdownSignals { signals }
        }
        #[cfg(not(unix))]
        ShutdownSignals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = self.signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
