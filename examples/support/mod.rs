//! What several examples share: where their cache lives.

use cacheaside::Config;
use cacheaside_testkit::TestServer;

/// The cluster of `AEROSPIKE_HOSTS` when it is set (and not empty), else an in-process test
/// server, saying which on stdout. Keep the returned server alive for the whole run (`None` for a
/// real cluster).
pub async fn cluster() -> Result<(Option<TestServer>, Config), Box<dyn std::error::Error>> {
    match std::env::var("AEROSPIKE_HOSTS") {
        Ok(hosts) if !hosts.trim().is_empty() => {
            println!("Using the Aerospike cluster at {hosts} (AEROSPIKE_HOSTS).");
            Ok((None, Config::from_env()?))
        }
        _ => {
            let server = TestServer::start().await?;
            println!(
                "No AEROSPIKE_HOSTS set: started the in-process Aerospike test server at {}.",
                server.hosts()
            );
            let config = Config::builder().hosts(server.hosts()).build()?;
            Ok((Some(server), config))
        }
    }
}
