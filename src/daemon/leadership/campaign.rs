//! The campaign for the leader key, as one task: a follower polls the key and claims it with a
//! fresh lease when it is free; the leader renews its lease every third of the TTL and checks
//! the key is still its own.
//!
//! The leader's deadline is measured from when the last successful grant or renewal was SENT,
//! plus the TTL etcd granted, minus [`SAFETY_MARGIN`]: etcd starts the TTL when it handles the
//! request, which is later, so the engine's deadline always falls before etcd's expiry and the
//! twin cannot take over while this engine still believes it may send. Leadership is lost at
//! once on a renewal that reports the lease gone or on a key held by someone else; on etcd
//! errors it is kept only until that deadline, which the session's fence enforces by itself.
//!
//! A leader that stopped sending only because etcd was out of reach remembers its lease. etcd
//! keeps leases across its own restart and extends them by a TTL or so when it comes back, so
//! the key stays bound to that lease and the twin cannot claim it before it expires; waiting
//! for that (as this campaign once did) cost a TTL plus etcd's election time, 3 s or more of
//! routing, after etcd was healthy again. Instead the follower's next look at the key finds its
//! own lease still holding it, renews it and leads again (the deadline counted, as always, from
//! that renewal's sending).

use super::etcd::{Etcd, EtcdError, Holder};
use super::{Role, TwinSettings, SAFETY_MARGIN};
use crate::daemon::telemetry;
use tokio::sync::{oneshot, watch};
use tokio::time::{sleep, sleep_until, Instant};

/// The running campaign. [`Leadership::resign`] (or dropping the handle) ends it and revokes
/// the lease, so the twin takes over without waiting out the TTL.
#[derive(Debug)]
pub struct Leadership {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Stops campaigning and revokes the lease if this engine leads (bounded by the request
    /// timeout).
    pub async fn resign(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts campaigning. The role starts as a follower that knows no leader.
pub fn spawn(settings: TwinSettings) -> Result<(Leadership, watch::Receiver<Role>), EtcdError> {
    let etcd = Etcd::new(&settings.etcd, settings.request_timeout())?;
    let (role_tx, role_rx) = watch::channel(Role::Follower { leader: None });
    Role::Follower { leader: None }.publish(&settings.cluster);
    metrics::gauge!(telemetry::TWIN_ETCD_UP, "cluster" => settings.cluster.clone()).set(0.0);
    let (stop, stopped) = oneshot::channel();
    let campaign = Campaign {
        key: settings.key(),
        settings,
        etcd,
        role: role_tx,
        lease: None,
        lapsed: None,
        etcd_up: None,
    };
    let task = tokio::spawn(campaign.run(stopped));
    Ok((Leadership { stop, task }, role_rx))
}

struct Campaign {
    settings: TwinSettings,
    key: String,
    etcd: Etcd,
    role: watch::Sender<Role>,
    /// The lease this engine leads with, and when its last renewal was sent.
    lease: Option<(i64, Instant)>,
    /// The lease this engine led with until its deadline passed while etcd could not be reached:
    /// it may still hold the key, and then renewing it is leading again.
    lapsed: Option<i64>,
    etcd_up: Option<bool>,
}

impl Campaign {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                () = self.step() => {}
            }
        }
        if let Some((lease, _)) = self.lease.take() {
            self.set_role(Role::Follower { leader: None });
            match self.etcd.revoke(lease).await {
                Ok(()) => tracing::info!("twin: leadership handed over (lease revoked)"),
                Err(e) => tracing::warn!(error = %e,
                    "twin: cannot revoke the lease; the twin takes over when it expires"),
            }
        }
    }

    async fn step(&mut self) {
        match self.lease {
            None => self.follow().await,
            Some((lease, sent)) => self.lead(lease, sent).await,
        }
    }

    /// One look at the key as a follower: claim it if it is free, else wait a poll period.
    async fn follow(&mut self) {
        let poll = self.settings.poll_every();
        match self.etcd.holder(&self.key).await {
            Ok(None) => {
                self.etcd_ok();
                self.claim().await;
            }
            Ok(Some(holder)) => {
                self.etcd_ok();
                if self.lapsed == Some(holder.lease) && holder.name == self.settings.instance {
                    return self.resume(holder.lease).await;
                }
                self.follow_holder(&holder);
                sleep(poll).await;
            }
            Err(e) => {
                self.etcd_failed(&e);
                sleep(poll).await;
            }
        }
    }

    /// Renews the lease this engine led with, which still holds the key: leader again at once,
    /// or, if etcd has let it go meanwhile, a follower that forgets it.
    async fn resume(&mut self, lease: i64) {
        let sent = Instant::now();
        match self.etcd.keepalive(lease).await {
            Ok(ttl) if !ttl.is_zero() => {
                self.lapsed = None;
                self.lease = Some((lease, sent));
                tracing::info!(
                    lease,
                    "twin: etcd is back and the key is still this engine's: leading again"
                );
                self.set_role(Role::Leader {
                    until: sent + ttl.saturating_sub(SAFETY_MARGIN),
                    since: sent,
                });
            }
            Ok(_) => {
                self.lapsed = None;
                tracing::info!(lease, "twin: the lease this engine led with has expired");
            }
            Err(e) => self.etcd_failed(&e),
        }
    }

    async fn claim(&mut self) {
        let sent = Instant::now();
        let lease = match self.etcd.grant(self.settings.lease_ttl).await {
            Ok(lease) => lease,
            Err(e) => return self.etcd_failed(&e),
        };
        match self
            .etcd
            .claim(&self.key, &self.settings.instance, lease.id)
            .await
        {
            Ok(None) => {
                let until = sent + lease.ttl.saturating_sub(SAFETY_MARGIN);
                self.lease = Some((lease.id, sent));
                tracing::info!(instance = %self.settings.instance, key = %self.key,
                    lease = lease.id, "twin: this engine is the leader");
                self.set_role(Role::Leader { until, since: sent });
            }
            Ok(Some(holder)) => {
                // Someone was quicker: give the unused lease back.
                let _ = self.etcd.revoke(lease.id).await;
                self.follow_holder(&holder);
            }
            Err(e) => {
                // Unknown whether the put happened; the lease expires by itself if it did.
                self.etcd_failed(&e);
                let _ = self.etcd.revoke(lease.id).await;
            }
        }
    }

    /// One renewal as the leader, a third of the TTL after the last one that succeeded (sooner
    /// while renewals fail).
    async fn lead(&mut self, lease: i64, last: Instant) {
        let until = self.until();
        let next = if self.etcd_up == Some(false) {
            Instant::now() + self.settings.poll_every()
        } else {
            last + self.settings.keepalive_every()
        };
        sleep_until(next.min(until)).await;
        if Instant::now() >= until {
            tracing::warn!("twin: lease not renewed in time: this engine stops sending");
            self.lose(None);
            self.lapsed = Some(lease);
            return;
        }
        let sent = Instant::now();
        let renewed = match self.etcd.keepalive(lease).await {
            Ok(ttl) if ttl.is_zero() => {
                tracing::warn!(
                    lease,
                    "twin: etcd says the lease is gone: this engine stops sending"
                );
                return self.lose(None);
            }
            Ok(ttl) => ttl,
            Err(e) => return self.etcd_failed(&e),
        };
        match self.etcd.holder(&self.key).await {
            Ok(Some(Holder { name, lease: held }))
                if name == self.settings.instance && held == lease =>
            {
                self.etcd_ok();
                self.lease = Some((lease, sent));
                let since = match *self.role.borrow() {
                    Role::Leader { since, .. } => since,
                    _ => sent,
                };
                self.set_role(Role::Leader {
                    until: sent + renewed.saturating_sub(SAFETY_MARGIN),
                    since,
                });
            }
            Ok(other) => {
                self.etcd_ok();
                tracing::warn!(holder = ?other.as_ref().map(|h| &h.name),
                    "twin: the leader key is no longer this engine's: it stops sending");
                let _ = self.etcd.revoke(lease).await;
                self.lose(other.map(|h| h.name));
            }
            Err(e) => self.etcd_failed(&e),
        }
    }

    fn until(&self) -> Instant {
        match *self.role.borrow() {
            Role::Leader { until, .. } => until,
            _ => Instant::now(),
        }
    }

    fn lose(&mut self, leader: Option<String>) {
        self.lease = None;
        self.lapsed = None;
        self.set_role(Role::Follower { leader });
    }

    fn follow_holder(&mut self, holder: &Holder) {
        let leader = (!holder.name.is_empty()).then(|| holder.name.clone());
        if holder.name == self.settings.instance {
            tracing::debug!("twin: the key still holds this instance's name from an earlier run; waiting for its lease to expire");
        }
        self.set_role(Role::Follower { leader });
    }

    /// Hands a changed role to the run loop and to the gauges at once: the gauges must not wait
    /// for the loop's next turn to stop saying "leader".
    fn set_role(&self, role: Role) {
        let cluster = &self.settings.cluster;
        self.role.send_if_modified(|r| {
            let changed = *r != role;
            if changed {
                role.publish(cluster);
            }
            *r = role;
            changed
        });
    }

    fn etcd_ok(&mut self) {
        if self.etcd_up != Some(true) {
            tracing::info!("twin: etcd reachable");
            self.set_etcd_up(true);
        }
    }

    fn etcd_failed(&mut self, e: &EtcdError) {
        if self.etcd_up != Some(false) {
            tracing::warn!(error = %e, "twin: etcd unreachable");
            self.set_etcd_up(false);
        }
    }

    fn set_etcd_up(&mut self, up: bool) {
        self.etcd_up = Some(up);
        metrics::gauge!(telemetry::TWIN_ETCD_UP, "cluster" => self.settings.cluster.clone())
            .set(if up { 1.0 } else { 0.0 });
    }
}
