//! A websocket's writing half on a task of its own, fed through a bounded queue. A peer that
//! stops reading (a stalled proxy, a hung IP Office) blocks only this task: the session goes on
//! reading, keeping time and serving the other IP Office of a pair, and its connection's
//! write deadline, fed by what this task reports written, declares the link dead.

use super::connect::WsStream;
use acd_core::Command;
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::session::CommandWritten;

/// Batches the session may queue before the socket has taken them. A healthy socket takes a
/// batch in microseconds; a full queue means the peer has stopped reading for good.
pub const QUEUE_BATCHES: usize = 256;

/// What the writer tells the session.
#[derive(Debug)]
pub enum WriterReport {
    /// This many messages of the queue were written and flushed.
    Written { count: usize },
    /// The socket refused a write; the writer has stopped.
    Failed { reason: String },
}

/// A report, with the socket and the writer it comes from (a report of a writer since
/// replaced by a reconnect is stale).
#[derive(Debug)]
pub struct Report {
    pub site: usize,
    pub generation: u64,
    pub what: WriterReport,
}

/// Messages to write together, and the commands whose frames they carry (told to the load
/// bench once written).
struct Batch {
    messages: Vec<WsMessage>,
    commands: Vec<Command>,
}

/// The queue is full: the peer has not read for a long while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The session's handle on one socket's writer.
pub struct Writer {
    queue: mpsc::Sender<Batch>,
    task: JoinHandle<()>,
    pub generation: u64,
}

impl Writer {
    pub fn spawn(
        sink: SplitSink<WsStream, WsMessage>,
        site: usize,
        generation: u64,
        reports: mpsc::UnboundedSender<Report>,
        on_written: Option<CommandWritten>,
    ) -> Writer {
        let (queue, batches) = mpsc::channel(QUEUE_BATCHES);
        let task = tokio::spawn(write_loop(
            sink, batches, site, generation, reports, on_written,
        ));
        Writer {
            queue,
            task,
            generation,
        }
    }

    /// Queues messages without waiting.
    pub fn send(&self, messages: Vec<WsMessage>, commands: Vec<Command>) -> Result<(), QueueFull> {
        self.queue
            .try_send(Batch { messages, commands })
            .map_err(|_| QueueFull)
    }

    /// Writes a close frame after what is queued, then closes the socket; gives up and drops
    /// the socket after `grace` (a peer that does not read never takes the close frame).
    /// Returns the task, finished or aborted by then.
    pub fn close(self, frame: Option<CloseFrame>, grace: Duration) -> JoinHandle<()> {
        let Writer { queue, task, .. } = self;
        if let Some(frame) = frame {
            let _ = queue.try_send(Batch {
                messages: vec![WsMessage::Close(Some(frame))],
                commands: Vec::new(),
            });
        }
        drop(queue);
        tokio::spawn(async move {
            let mut task = task;
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        })
    }

    /// Drops the socket's writing half at once (the link is already gone).
    pub fn abort(self) {
        self.task.abort();
    }
}

async fn write_loop(
    mut sink: SplitSink<WsStream, WsMessage>,
    mut batches: mpsc::Receiver<Batch>,
    site: usize,
    generation: u64,
    reports: mpsc::UnboundedSender<Report>,
    on_written: Option<CommandWritten>,
) {
    let report = |what| {
        let _ = reports.send(Report {
            site,
            generation,
            what,
        });
    };
    while let Some(first) = batches.recv().await {
        // Whatever else is queued goes out in the same flush.
        let mut batch = vec![first];
        while let Ok(more) = batches.try_recv() {
            batch.push(more);
        }
        let mut count = 0;
        for b in &mut batch {
            for message in b.messages.drain(..) {
                let closing = matches!(message, WsMessage::Close(_));
                if let Err(e) = sink.feed(message).await {
                    if !closing {
                        report(WriterReport::Failed {
                            reason: format!("sending to IP Office failed: {e}"),
                        });
                    }
                    return;
                }
                // A close frame is the shell's, not the connection's: not counted.
                if !closing {
                    count += 1;
                }
            }
        }
        if let Err(e) = sink.flush().await {
            report(WriterReport::Failed {
                reason: format!("sending to IP Office failed: {e}"),
            });
            return;
        }
        report(WriterReport::Written { count });
        if let Some(written) = &on_written {
            let at = std::time::Instant::now();
            for cmd in batch.iter().flat_map(|b| &b.commands) {
                (written.0)(cmd, at);
            }
        }
    }
    let _ = sink.close().await;
}
