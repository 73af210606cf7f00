//! What bounds a request's work on the server: its deadline, the end of its
//! connection, the compute pool and its share per connection, and memory
//! held for a connection beyond one request. Every test runs on 127.0.0.1
//! and ends by itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haystack_wire::connection::{
    Cancelled, Client, ClientConfig, ClientError, Fault, Held, Monitor, Router, Server, ServerConfig,
};
use haystack_wire::Op;

/// How long any one wait in these tests may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(config: ServerConfig, router: Router) -> (String, Monitor) {
    let server = Server::bind("127.0.0.1:0", config, router).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let monitor = server.monitor();
    tokio::spawn(server.run());
    (url, monitor)
}

async fn connect(url: &str) -> Client {
    Client::connect(url, ClientConfig::new()).await.unwrap()
}

/// Waits until `done` holds, failing the test after [`PATIENCE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(PATIENCE, waited).await.is_err() {
        panic!("{what}: not within {PATIENCE:?}");
    }
}

/// The error grid's `dis` of a request that failed on the server.
fn remote_dis(result: Result<Vec<u8>, ClientError>) -> String {
    match result {
        Err(ClientError::Remote { dis, .. }) => dis,
        other => panic!("expected an error grid, got {other:?}"),
    }
}

/// Work for the compute pool that runs until its request is no longer
/// wanted, counting itself in `running` meanwhile and setting `stopped`
/// with the reason it was given.
fn until_cancelled(
    running: Arc<AtomicUsize>,
    stopped: Arc<Mutex<Vec<Cancelled>>>,
) -> impl FnOnce(&haystack_wire::connection::Cancellation) -> Result<Vec<u8>, Fault> + Send + 'static {
    move |cancellation| {
        running.fetch_add(1, Ordering::SeqCst);
        let why = loop {
            if let Err(why) = cancellation.check() {
                break why;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        running.fetch_sub(1, Ordering::SeqCst);
        stopped.lock().unwrap().push(why);
        Err(why.into())
    }
}

/// A router whose `read` runs [`until_cancelled`] on the compute pool.
fn cancellable_router(running: &Arc<AtomicUsize>, stopped: &Arc<Mutex<Vec<Cancelled>>>) -> Router {
    let (running, stopped) = (Arc::clone(running), Arc::clone(stopped));
    Router::new().route(Op::Read, move |request| {
        let work = until_cancelled(Arc::clone(&running), Arc::clone(&stopped));
        async move { request.compute(work).await }
    })
}

#[tokio::test]
async fn a_handler_past_its_deadline_is_dropped_and_the_client_told() {
    let dropped = Arc::new(AtomicBool::new(false));
    let router = {
        let dropped = Arc::clone(&dropped);
        Router::new().route(Op::Read, move |_| {
            let dropped = Arc::clone(&dropped);
            async move {
                // Set when the future is dropped before it finishes.
                struct OnDrop(Arc<AtomicBool>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _guard = OnDrop(dropped);
                tokio::time::sleep(Duration::from_secs(3_600)).await;
                Ok(Vec::new())
            }
        })
    };
    let config = ServerConfig::new().request_timeout(Some(Duration::from_millis(200)));
    let (url, _) = start(config, router).await;
    let client = connect(&url).await;
    let dis = remote_dis(client.request(Op::Read, b"").await);
    assert_eq!(
        dis,
        "the request was stopped: the request ran past its deadline of 0.2 s"
    );
    assert!(dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn compute_work_is_told_to_stop_at_the_deadline_and_answers_with_the_reason() {
    let (running, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let router = cancellable_router(&running, &stopped);
    let config = ServerConfig::new().request_timeout(Some(Duration::from_millis(300)));
    let (url, _) = start(config, router).await;
    let client = connect(&url).await;
    let dis = remote_dis(client.request(Op::Read, b"").await);
    assert!(dis.starts_with("the request was stopped: "), "{dis}");
    wait_until("the work stopped", || {
        running.load(Ordering::SeqCst) == 0 && !stopped.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        stopped.lock().unwrap()[0],
        Cancelled::DeadlinePassed {
            after: Some(Duration::from_millis(300))
        }
    );
}

#[tokio::test]
async fn compute_work_stops_when_its_connection_ends() {
    let (running, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let router = cancellable_router(&running, &stopped);
    let (url, _) = start(ServerConfig::new().request_timeout(None), router).await;
    let client = connect(&url).await;
    let asked = {
        let client = client.clone();
        tokio::spawn(async move { client.request(Op::Read, b"").await })
    };
    wait_until("the work started", || running.load(Ordering::SeqCst) == 1).await;
    asked.abort();
    drop(client);
    wait_until("the work stopped", || running.load(Ordering::SeqCst) == 0).await;
    assert_eq!(*stopped.lock().unwrap(), [Cancelled::ConnectionClosed]);
}

#[tokio::test]
async fn one_connection_holds_at_most_its_share_of_the_compute_pool_and_another_still_gets_a_turn() {
    let (running, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let most = Arc::new(AtomicUsize::new(0));
    let router = {
        let (running, stopped, most) = (Arc::clone(&running), Arc::clone(&stopped), Arc::clone(&most));
        Router::new()
            // Work that holds its thread until its connection ends.
            .route(Op::Read, move |request| {
                let work = until_cancelled(Arc::clone(&running), Arc::clone(&stopped));
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                async move {
                    let answer = request
                        .compute(move |cancellation| {
                            most.fetch_max(running.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
                            work(cancellation)
                        })
                        .await;
                    answer
                }
            })
            // Work that ends at once.
            .route(Op::About, |request| async move {
                request.compute(|_| Ok(b"done".to_vec())).await
            })
    };
    let config = ServerConfig::new()
        .request_timeout(None)
        .compute_threads(2)
        .compute_per_connection(1);
    let (url, _) = start(config, router).await;
    let greedy = connect(&url).await;
    let asked: Vec<_> = (0..4)
        .map(|_| {
            let greedy = greedy.clone();
            tokio::spawn(async move { greedy.request(Op::Read, b"").await })
        })
        .collect();
    wait_until("the greedy connection's first work started", || {
        running.load(Ordering::SeqCst) == 1
    })
    .await;
    // The pool has a second thread, which the greedy connection may not take.
    let other = connect(&url).await;
    assert_eq!(other.request(Op::About, b"").await.unwrap(), b"done");
    assert_eq!(running.load(Ordering::SeqCst), 1);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "the greedy connection ran two at once"
    );
    for asked in &asked {
        asked.abort();
    }
    drop(greedy);
    wait_until("the greedy work stopped", || running.load(Ordering::SeqCst) == 0).await;
}

#[tokio::test]
async fn memory_held_for_a_connection_counts_in_the_budget_until_dropped() {
    const MIB: usize = 1 << 20;
    let kept: Arc<Mutex<Vec<Held>>> = Arc::default();
    let router = {
        let kept = Arc::clone(&kept);
        Router::new().route(Op::WatchSub, move |request| {
            let kept = Arc::clone(&kept);
            async move {
                let bytes: usize = String::from_utf8_lossy(&request.payload).parse().unwrap_or(0);
                match request.peer.hold(bytes) {
                    Ok(held) => {
                        kept.lock().unwrap().push(held);
                        Ok(b"held".to_vec())
                    }
                    Err(over) => Err(Fault::new(over.to_string())),
                }
            }
        })
    };
    let (url, monitor) = start(ServerConfig::new().memory_budget(8 * MIB), router).await;
    let client = connect(&url).await;
    client
        .request(Op::WatchSub, (3 * MIB).to_string().as_bytes())
        .await
        .unwrap();
    client
        .request(Op::WatchSub, (3 * MIB).to_string().as_bytes())
        .await
        .unwrap();
    assert!(monitor.stats().memory_in_use >= 6 * MIB);
    // This connection holds the most: it is refused, not another closed.
    let dis = remote_dis(
        client
            .request(Op::WatchSub, (3 * MIB).to_string().as_bytes())
            .await,
    );
    assert!(
        dis.starts_with("the server's memory budget of 8388608 bytes is spent: this connection holds "),
        "{dis}"
    );
    assert!(dis.ends_with(" and asked 3145728 more"), "{dis}");
    kept.lock().unwrap().clear();
    wait_until("the memory was given back", || {
        monitor.stats().memory_in_use < MIB
    })
    .await;
}
