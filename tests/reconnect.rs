//! The reconnecting client against a server of this crate that is stopped
//! and started again on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haystack_wire::connection::{
    ClientConfig, ClientError, ConnectionState, Fault, Reconnect, ReconnectingClient, Router, Server,
    ServerConfig, Subscribers,
};
use haystack_wire::{hayson, Op};
use libhaystack::val::{Ref, Value};
use serde_json::{json, Value as Json};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// How long any one wait in these tests may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {PATIENCE:?}"))
}

/// One server's life: what it saw, and its watches.
struct Site {
    /// Names the watches of this server (`A-1`, `B-1`...).
    name: &'static str,
    seen: Mutex<Vec<(Op, Json)>>,
    watches: Subscribers<String>,
    /// Told when a `hisRead` arrives (which is never answered).
    his_read: Notify,
}

impl Site {
    fn new(name: &'static str) -> Arc<Site> {
        Arc::new(Site {
            name,
            seen: Mutex::new(Vec::new()),
            watches: Subscribers::new(),
            his_read: Notify::new(),
        })
    }

    fn seen(&self, op: Op) -> Vec<Json> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(seen, _)| *seen == op)
            .map(|(_, grid)| grid.clone())
            .collect()
    }

    /// Pushes a watch update naming the watch by its id on this server.
    fn push(&self, watch_id: &str, value: f64) -> usize {
        let grid = json!({
            "_kind": "grid", "meta": {"watchId": watch_id},
            "cols": [{"name": "id"}, {"name": "curVal"}],
            "rows": [{"id": {"_kind": "ref", "val": "a"}, "curVal": value}]
        });
        self.watches
            .push(&watch_id.to_owned(), Op::WatchPoll, grid.to_string().as_bytes())
    }
}

fn grid(meta: Json) -> Vec<u8> {
    json!({"_kind": "grid", "meta": meta, "cols": [{"name": "empty"}], "rows": []})
        .to_string()
        .into_bytes()
}

fn router(site: &Arc<Site>) -> Router {
    let mut router = Router::new();
    for op in Op::ALL {
        let site = Arc::clone(site);
        router = router.route(op, move |request| {
            let site = Arc::clone(&site);
            async move {
                let grid_in: Json =
                    serde_json::from_slice(&request.payload).map_err(|_| Fault::new("not JSON"))?;
                let watch_id = grid_in["meta"]["watchId"].as_str().map(str::to_owned);
                let count = {
                    let mut seen = site.seen.lock().unwrap();
                    seen.push((request.op, grid_in));
                    seen.iter().filter(|(op, _)| *op == request.op).count()
                };
                match request.op {
                    Op::WatchSub => {
                        let id = format!("{}-{count}", site.name);
                        site.watches.subscribe(id.clone(), &request.peer);
                        Ok(grid(json!({"watchId": id})))
                    }
                    Op::WatchPoll | Op::WatchUnsub => match watch_id {
                        Some(id) if site.watches.has_subscribers(&id) => Ok(grid(json!({"watchId": id}))),
                        other => Err(Fault::new(format!("unknown watch {other:?}"))),
                    },
                    Op::HisRead => {
                        site.his_read.notify_one();
                        std::future::pending().await
                    }
                    _ => Ok(grid(json!({"server": site.name}))),
                }
            }
        });
    }
    router
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn serve(addr: SocketAddr, site: &Arc<Site>) -> (SocketAddr, Running) {
    let config = ServerConfig::new().shutdown_grace(Duration::from_millis(50));
    let server = Server::bind(addr, config, router(site)).await.expect("the port");
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    (addr, Running { stop, task })
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        bounded("the server's shutdown", self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn quick() -> Reconnect {
    Reconnect::new()
        .min_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
}

fn config() -> ClientConfig {
    ClientConfig::new().request_timeout(Some(Duration::from_secs(5)))
}

fn meta_str(grid: &libhaystack::val::Grid, name: &str) -> Option<String> {
    match grid.meta.as_ref()?.get(name)? {
        Value::Str(text) => Some(text.value().to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn a_restarted_server_gets_the_watch_again_and_pushes_keep_coming_under_the_first_id() {
    let first = Site::new("A");
    let (addr, running) = serve("127.0.0.1:0".parse().unwrap(), &first).await;
    let client = ReconnectingClient::start(format!("ws://{addr}"), config(), quick()).await;
    let mut pushes = client.pushes().expect("the pushes");
    let a = Ref::make("a", None);

    let opened = bounded(
        "watchSub",
        client.watch_sub(std::slice::from_ref(&a), "boilers", None, Some("point")),
    )
    .await
    .unwrap();
    let watch_id = meta_str(&opened, "watchId").expect("a watch id");
    assert_eq!(watch_id, "A-1");
    assert_eq!(first.push("A-1", 1.0), 1);
    let push = bounded("the first push", pushes.next()).await.expect("a push");
    assert_eq!(push.op, Op::WatchPoll);
    assert_eq!(client.connects(), 1);

    running.stop().await;
    assert_eq!(
        bounded("noticing the drop", client.wait_for(ConnectionState::Connecting)).await,
        ConnectionState::Connecting
    );
    let second = Site::new("B");
    let (_, running) = serve(addr, &second).await;
    assert_eq!(
        bounded("reconnecting", client.wait_for(ConnectionState::Connected)).await,
        ConnectionState::Connected
    );
    assert_eq!(client.connects(), 2);

    // The new server saw the same watchSub again, before anything else.
    let resubscribed = second.seen(Op::WatchSub);
    assert_eq!(resubscribed.len(), 1);
    assert_eq!(
        resubscribed[0],
        haystack_wire::connection::requests::watch_sub(&[a], "boilers", None, Some("point")).into_json()
    );

    // The caller's id still works: the server is asked under its own.
    let polled = bounded("watchPoll", client.watch_poll(&watch_id, false))
        .await
        .unwrap();
    assert_eq!(meta_str(&polled, "watchId").as_deref(), Some("B-1"));
    assert_eq!(second.seen(Op::WatchPoll)[0]["meta"]["watchId"], "B-1");

    // Pushes come on the same stream, naming the watch by the caller's id.
    assert_eq!(second.push("B-1", 2.0), 1);
    let push = bounded("the push after the restart", pushes.next())
        .await
        .expect("a push");
    let pushed = hayson::decode_grid(&push.payload).unwrap();
    assert_eq!(meta_str(&pushed, "watchId").as_deref(), Some("A-1"));
    assert!(matches!(pushed.rows[0].get("curVal"), Some(Value::Number(n)) if n.value == 2.0));

    bounded("watchClose", client.watch_close(&watch_id))
        .await
        .unwrap();
    assert_eq!(second.seen(Op::WatchUnsub)[0]["meta"]["watchId"], "B-1");
    client.close().await;
    running.stop().await;
}

#[tokio::test]
async fn a_request_in_flight_when_the_connection_drops_fails_as_connection_lost() {
    let site = Site::new("A");
    let (addr, running) = serve("127.0.0.1:0".parse().unwrap(), &site).await;
    let client = ReconnectingClient::start(format!("ws://{addr}"), config(), quick()).await;
    let asked = site.his_read.notified();
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.his_read(&Ref::make("p1", None), "today").await })
    };
    bounded("the hisRead reaching the server", asked).await;
    running.stop().await;
    match bounded("the in-flight request", in_flight).await.unwrap() {
        Err(ClientError::ConnectionLost { op, .. }) => assert_eq!(op, Op::HisRead),
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
    client.close().await;
}

#[tokio::test]
async fn a_request_made_during_the_outage_waits_and_succeeds_once_the_server_is_back() {
    let first = Site::new("A");
    let (addr, running) = serve("127.0.0.1:0".parse().unwrap(), &first).await;
    let client = ReconnectingClient::start(format!("ws://{addr}"), config(), quick()).await;
    bounded("connecting", client.wait_for(ConnectionState::Connected)).await;
    running.stop().await;
    bounded("noticing the drop", client.wait_for(ConnectionState::Connecting)).await;

    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { client.about().await })
    };
    // Several reconnect attempts fail before the server comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    let second = Site::new("B");
    let (_, running) = serve(addr, &second).await;
    let about = bounded("the request made during the outage", waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta_str(&about, "server").as_deref(), Some("B"));
    assert!(first.seen(Op::About).is_empty());
    client.close().await;
    running.stop().await;
}

#[tokio::test]
async fn a_request_made_while_no_server_answers_fails_as_disconnected_after_the_request_timeout() {
    // A port nobody listens on: bound, then released.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ClientConfig::new().request_timeout(Some(Duration::from_millis(300)));
    let client = ReconnectingClient::start(format!("ws://{addr}"), config, quick()).await;
    match bounded("the request", client.about()).await {
        Err(ClientError::Disconnected { op, after }) => {
            assert_eq!(op, Op::About);
            assert_eq!(after, Duration::from_millis(300));
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!(client.state(), ConnectionState::Connecting);
    assert_eq!(client.connects(), 0);
    client.close().await;
}

#[tokio::test]
async fn a_closed_reconnecting_client_refuses_requests_and_ends_its_pushes() {
    let site = Site::new("A");
    let (addr, running) = serve("127.0.0.1:0".parse().unwrap(), &site).await;
    let client = ReconnectingClient::start(format!("ws://{addr}"), config(), quick()).await;
    let mut pushes = client.pushes().expect("the pushes");
    bounded("connecting", client.wait_for(ConnectionState::Connected)).await;
    client.close().await;
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(matches!(client.about().await, Err(ClientError::Closed { .. })));
    assert!(bounded("the end of the pushes", pushes.next()).await.is_none());
    // It does not come back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.connects(), 1);
    running.stop().await;
}
