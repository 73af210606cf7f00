//! The client's cap on what a server may send before the handshake is done:
//! a stream that counts the bytes read from the start of the connection
//! and refuses to read past the cap, so that a server that answers the
//! upgrade, the login or the capability offer with megabytes never gets
//! them buffered. The cap is lifted once the handshake is done; from then
//! on the connection's normal limits apply.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The server sent more than the cap before the handshake was done: the
/// error a [`Capped`] read fails with, inside an [`io::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {limit} bytes before the handshake was done (at least {arrived} arrived)")]
pub(super) struct OverCap {
    /// The cap.
    pub(super) limit: usize,
    /// The bytes read, and at least one more.
    pub(super) arrived: usize,
}

impl OverCap {
    /// The cap error inside `error`, if that is what it is.
    pub(super) fn within(error: &io::Error) -> Option<OverCap> {
        error.get_ref()?.downcast_ref::<OverCap>().copied()
    }
}

/// A stream whose reads stop at a cap until [`Capped::lift`].
#[derive(Debug)]
pub(super) struct Capped<S> {
    inner: S,
    /// `None` once lifted.
    limit: Option<usize>,
    /// Bytes read while capped.
    read: usize,
}

impl<S> Capped<S> {
    /// `inner`, of which at most `limit` bytes are read until [`Capped::lift`].
    pub(super) fn new(inner: S, limit: usize) -> Capped<S> {
        Capped {
            inner,
            limit: Some(limit),
            read: 0,
        }
    }

    /// Lifts the cap: reads go straight to the inner stream from now on.
    pub(super) fn lift(&mut self) {
        self.limit = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(limit) = this.limit else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        let room = limit.saturating_sub(this.read);
        if room == 0 {
            // The reader wants more than the cap: one byte tells whether more
            // came (refused) or the stream ended (passed on as the end).
            let mut probe = [0u8; 1];
            let mut probe = ReadBuf::new(&mut probe);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut probe))?;
            if probe.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            let over = OverCap {
                limit,
                arrived: this.read.saturating_add(1),
            };
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, over)));
        }
        // Never more than the room left: what lies past the cap stays unread.
        let wanted = room.min(buf.remaining());
        let window = buf.initialize_unfilled_to(wanted);
        let mut limited = ReadBuf::new(window);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        buf.advance(n);
        this.read += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_stop_at_the_cap_and_the_next_byte_is_refused_naming_it() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        server.write_all(&[1; 100]).await.unwrap();
        let mut capped = Capped::new(client, 60);
        let mut buf = vec![0; 1000];
        let mut got = 0;
        let error = loop {
            match capped.read(&mut buf[got..]).await {
                Ok(n) => got += n,
                Err(error) => break error,
            }
        };
        assert_eq!(got, 60);
        assert_eq!(
            OverCap::within(&error),
            Some(OverCap {
                limit: 60,
                arrived: 61
            })
        );
    }

    #[tokio::test]
    async fn the_end_of_the_stream_at_the_cap_is_an_end_not_an_error() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        server.write_all(&[1; 10]).await.unwrap();
        drop(server);
        let mut capped = Capped::new(client, 10);
        let mut out = Vec::new();
        capped.read_to_end(&mut out).await.unwrap();
        assert_eq!(out.len(), 10);
    }

    #[tokio::test]
    async fn once_lifted_everything_is_read() {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        server.write_all(&[1; 100]).await.unwrap();
        drop(server);
        let mut capped = Capped::new(client, 10);
        let mut first = [0; 10];
        capped.read_exact(&mut first).await.unwrap();
        capped.lift();
        let mut rest = Vec::new();
        capped.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), 90);
    }
}
