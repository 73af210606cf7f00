//! A socket whose reads are charged to a connection's memory account until
//! the message they carry is taken.
//!
//! A WebSocket message is held whole by the WebSocket layer while it
//! arrives, up to the frame limit, before the connection sees any of it. A
//! thousand connections each sending a large message slowly would hold a
//! thousand times that limit, none of it counted. The meter charges every
//! byte read from the socket as it is read, and gives the bytes back when
//! the connection takes the next message: what the WebSocket layer holds is
//! then part of the shared budget like everything else.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::budget::Account;
use super::control::{Closing, Control};

/// The bytes read and not yet taken as a message, charged to an account.
#[derive(Debug)]
pub(crate) struct Meter {
    unread: AtomicUsize,
    account: Arc<Account>,
    control: Arc<Control>,
}

impl Meter {
    /// A meter charging `account`; a charge the spent budget refuses asks
    /// `control` to close the connection.
    pub(crate) fn new(account: Arc<Account>, control: Arc<Control>) -> Arc<Meter> {
        Arc::new(Meter {
            unread: AtomicUsize::new(0),
            account,
            control,
        })
    }

    fn read(&self, bytes: usize) {
        match self.account.charge(bytes) {
            Ok(()) => {
                self.unread.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(exhausted) => self.control.close(Closing::OverServerBudget {
                held: exhausted.held,
                limit: exhausted.limit,
            }),
        }
    }

    /// A message was taken: what was read up to it is no longer held by the
    /// WebSocket layer (a few bytes of the next one may be, and go uncounted).
    pub(crate) fn message_taken(&self) {
        self.account.release(self.unread.swap(0, Ordering::Relaxed));
    }
}

/// `S`, with its reads charged to a [`Meter`].
#[derive(Debug)]
pub(crate) struct ReadMeter<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> ReadMeter<S> {
    pub(crate) fn new(inner: S, meter: Arc<Meter>) -> Self {
        ReadMeter { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadMeter<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(context, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.meter.read(read);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadMeter<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
