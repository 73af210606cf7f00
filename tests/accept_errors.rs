//! A server out of file descriptors keeps running: `accept()` fails while
//! none is free, and the server goes on once one is. A binary of its own,
//! since the descriptor limit is the whole process's.

use std::time::Duration;

use haystack_wire::connection::{Client, ClientConfig, Router, Server, ServerConfig};
use haystack_wire::Op;
use tokio::net::TcpSocket;
use tokio::time::Instant;

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count() as u64)
}

fn set_descriptor_limit(soft: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls get a valid pointer to a local rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = soft.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_out_of_file_descriptors_keeps_accepting_once_some_are_free() {
    let router = Router::new().route(Op::About, |_| async { Ok(b"{}".to_vec()) });
    let config = ServerConfig::new().handshake_timeout(Duration::from_millis(500));
    let server = Server::bind("127.0.0.1:0", config, router).await.unwrap();
    let addr = server.local_addr().unwrap();
    let monitor = server.monitor();
    tokio::spawn(server.run());

    // The client sockets exist before the limit falls, so that only the
    // server's accept() runs out.
    let sockets: Vec<TcpSocket> = (0..40).map(|_| TcpSocket::new_v4().unwrap()).collect();
    let mut original = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to a local rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut original) }, 0);
    set_descriptor_limit(open_descriptors() + 4);
    let mut connected = Vec::new();
    for socket in sockets {
        connected.push(socket.connect(addr).await.unwrap());
    }
    let started = Instant::now();
    while monitor.stats().accept_errors == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "accept() never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error = monitor.stats().last_accept_error.unwrap_or_default();
    assert!(error.contains("Too many open files"), "{error}");

    drop(connected);
    set_descriptor_limit(original.rlim_cur);
    // The server is still there, and serves new clients.
    for _ in 0..20 {
        let client = tokio::time::timeout(
            Duration::from_secs(10),
            Client::connect(&format!("ws://{addr}"), ClientConfig::new()),
        )
        .await
        .expect("connect in time")
        .expect("the server accepts again");
        assert_eq!(client.request(Op::About, b"").await.unwrap(), b"{}");
        client.close().await;
    }
}
