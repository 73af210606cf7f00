//! The standard ops as typed methods: each builds its request with
//! [`requests`](super::super::requests) and reads the response as a
//! libhaystack grid.

use libhaystack::val::{Grid, Ref};

use super::super::body::BodyError;
use super::super::requests::{self, Request};
use super::{Client, ClientError};
use crate::hayson;

/// Reads a response payload as a grid; a payload that is not one is
/// [`ClientError::Body`] under the request's op.
pub(super) fn response_grid(request: &Request, payload: &[u8]) -> Result<Grid, ClientError> {
    hayson::decode_grid(payload).map_err(|source| ClientError::Body {
        op: request.op(),
        source: BodyError::Grid(source),
    })
}

/// The methods of the ops whose request and response need no more than
/// sending: shared by [`Client`] and
/// [`ReconnectingClient`](super::ReconnectingClient), each of which has an
/// `async fn exchange(&self, &Request) -> Result<Grid, ClientError>`.
macro_rules! typed_ops {
    () => {
        /// Sends `request` and reads the response as a grid.
        pub async fn send(
            &self,
            request: &$crate::connection::requests::Request,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(request).await
        }

        /// `about`: summary information about the server.
        pub async fn about(&self) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::about()).await
        }

        /// `ops`: the operations the server supports.
        pub async fn ops(&self) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::ops()).await
        }

        /// `formats`: the data formats the server can read and write.
        pub async fn formats(&self) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::formats())
                .await
        }

        /// `read` of the records matching `filter`, at most `limit` of them
        /// when given.
        pub async fn read(
            &self,
            filter: &str,
            limit: Option<u64>,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::read(filter, limit))
                .await
        }

        /// `read` of the records with these ids.
        pub async fn read_by_ids(
            &self,
            ids: &[libhaystack::val::Ref],
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::read_by_ids(ids))
                .await
        }

        /// `nav` from `nav_id`, or from the root when `None`.
        pub async fn nav(
            &self,
            nav_id: Option<&str>,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::nav(nav_id))
                .await
        }

        /// `hisRead` of one point over `range` (`"today"`, `"2024-01-01,2024-01-02"`...).
        pub async fn his_read(
            &self,
            id: &libhaystack::val::Ref,
            range: &str,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::his_read(id, range))
                .await
        }

        /// `hisRead` of several points over one `range`.
        pub async fn his_read_batch(
            &self,
            ids: &[libhaystack::val::Ref],
            range: &str,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::his_read_batch(ids, range))
                .await
        }

        /// `hisWrite` of `items` (dicts of `ts` and `val`) to one point.
        pub async fn his_write(
            &self,
            id: &libhaystack::val::Ref,
            items: &[libhaystack::val::Dict],
        ) -> Result<(), $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::his_write(id, items))
                .await
                .map(drop)
        }

        /// `hisWrite` of a grid the caller built (several points at once).
        pub async fn his_write_batch(
            &self,
            grid: &libhaystack::val::Grid,
        ) -> Result<(), $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::his_write_batch(grid))
                .await
                .map(drop)
        }

        /// `pointWrite` that reads the priority array of a writable point.
        pub async fn point_write_array(
            &self,
            id: &libhaystack::val::Ref,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::point_write_array(id))
                .await
        }

        /// `pointWrite` of `val` at priority `level` (null releases it), by
        /// `who`, for `duration` when given.
        pub async fn point_write(
            &self,
            id: &libhaystack::val::Ref,
            level: u8,
            val: &libhaystack::val::Value,
            who: &str,
            duration: Option<&libhaystack::val::Number>,
        ) -> Result<(), $crate::connection::ClientError> {
            self.exchange(&$crate::connection::requests::point_write(
                id, level, val, who, duration,
            ))
            .await
            .map(drop)
        }

        /// `invokeAction` of `action` on `id`, with `args` as the row of
        /// arguments (in the order given; a [`Dict`](libhaystack::val::Dict) gives its key order).
        pub async fn invoke_action<K, V>(
            &self,
            id: &libhaystack::val::Ref,
            action: &str,
            args: impl IntoIterator<Item = (K, V)>,
        ) -> Result<libhaystack::val::Grid, $crate::connection::ClientError>
        where
            K: AsRef<str>,
            V: std::borrow::Borrow<libhaystack::val::Value>,
        {
            self.exchange(&$crate::connection::requests::invoke_action(
                id, action, args,
            ))
            .await
        }
    };
}

pub(super) use typed_ops;

impl Client {
    typed_ops!();

    /// Sends `request` and reads the response as a grid.
    async fn exchange(&self, request: &Request) -> Result<Grid, ClientError> {
        let payload = self.request(request.op(), &request.encode()).await?;
        response_grid(request, &payload)
    }

    /// `watchSub`: opens a watch of `ids` named `watch_dis`, with a `lease`
    /// and a server-side `filter` when given. The response's meta carries
    /// the new watch's `watchId`.
    pub async fn watch_sub(
        &self,
        ids: &[Ref],
        watch_dis: &str,
        lease: Option<std::time::Duration>,
        filter: Option<&str>,
    ) -> Result<Grid, ClientError> {
        self.exchange(&requests::watch_sub(ids, watch_dis, lease, filter))
            .await
    }

    /// `watchUnsub` of `ids` from the watch `watch_id`.
    pub async fn watch_unsub(&self, watch_id: &str, ids: &[Ref]) -> Result<(), ClientError> {
        self.exchange(&requests::watch_unsub(watch_id, ids))
            .await
            .map(drop)
    }

    /// `watchPoll` of the watch `watch_id`: its changes, or every record
    /// when `refresh`.
    pub async fn watch_poll(&self, watch_id: &str, refresh: bool) -> Result<Grid, ClientError> {
        self.exchange(&requests::watch_poll(watch_id, refresh)).await
    }

    /// `watchUnsub` that closes the watch `watch_id`.
    pub async fn watch_close(&self, watch_id: &str) -> Result<(), ClientError> {
        self.exchange(&requests::watch_close(watch_id)).await.map(drop)
    }
}
