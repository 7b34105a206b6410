//! Malformed frames close their connection without taking the server down; the binary starts and stops.
//! Testkit-only.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aerospike::{as_bin, as_key, Bins, ReadPolicy, WritePolicy};
use cacheaside_testkit::TestServer;
use common::testkit_only;

/// Sends `bytes` on a fresh connection and reports whether the server closed it without replying.
fn closed_without_reply(port: u16, bytes: &[u8]) -> bool {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    matches!(stream.read_to_end(&mut reply), Ok(0)) || reply.is_empty()
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let port = server.port();
    let bad_frames: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![9, 3, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4], // wrong version
        vec![2, 7, 0, 0, 0, 0, 0, 1, 0],          // wrong type
        vec![2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // length far over the limit
        vec![2, 3, 0, 0, 0, 0, 0, 30, 22, 0, 0],  // truncated body
        vec![
            2, 3, 0, 0, 0, 0, 0, 22, 22, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
            0, 0,
        ], // 9 fields, none sent
    ];
    for frame in &bad_frames {
        assert!(closed_without_reply(port, frame), "{frame:?}");
    }

    let key = as_key!("test", "after-garbage", "k");
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
}

/// Starts the binary with `args` and reads its ready line.
fn spawn_binary(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aerospike-testkit"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

#[test]
fn binary_prints_a_ready_line_and_exits_zero_on_sigterm() {
    if common::real_hosts().is_some() {
        return;
    }
    let (mut child, line) = spawn_binary(&[
        "--port",
        "0",
        "--namespace",
        "test",
        "--namespace",
        "nottl:nsup-period=0",
    ]);
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    assert!(TcpStream::connect(&addr).is_ok());

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn binary_runs_several_nodes_and_says_so() {
    if common::real_hosts().is_some() {
        return;
    }
    let (mut child, line) = spawn_binary(&["--port", "0", "--nodes", "3"]);
    assert!(
        line.starts_with("aerospike-testkit (3 nodes) listening on "),
        "{line}"
    );
    let hosts = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(hosts.split(',').count(), 3, "{line}");
    for addr in hosts.split(',') {
        assert!(TcpStream::connect(addr).is_ok(), "{addr}");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_aerospike-testkit"))
        .args(["--nodes", "0"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--nodes N"));
}
