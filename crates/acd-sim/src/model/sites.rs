//! A resilient IP Office pair in one model: which system each caller's call queues on, and
//! what a system's failure does to the calls on it.
//!
//! The MT-CTI3 guide ("Resilient solutions"): calls queueing on the primary are seen and
//! controlled only there, calls queueing on the secondary only on the secondary, and the
//! secondary's copies of the groups take calls when the primary is down. Users are one pool
//! (their phones re-register on the surviving system), which the model already is. A call
//! arrives on the system whose trunk carries it; when a system fails, the calls it carried are
//! lost with its trunks (callers cut off), and until it returns every new caller arrives on the
//! other. By default there is one system and every call is on the primary.

use super::{CallPhase, Model, SimCallId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The pair's state inside the model.
pub(super) struct Sites {
    secondary_share: f64,
    down: [bool; 2],
    rng: ChaCha8Rng,
    /// Calls cut off by a system failure, per system.
    pub lost: [u64; 2],
}

impl Sites {
    pub(super) fn new(rng: ChaCha8Rng) -> Sites {
        Sites {
            secondary_share: 0.0,
            down: [false; 2],
            rng,
            lost: [0; 2],
        }
    }

    /// The system a new caller arrives on.
    pub(super) fn draw(&mut self) -> u8 {
        if self.down[0] {
            return 1;
        }
        if self.secondary_share <= 0.0 || self.down[1] {
            return 0;
        }
        u8::from(self.rng.random_bool(self.secondary_share.min(1.0)))
    }
}

impl Model {
    /// A resilient pair: `share` of callers arrive on the secondary's trunks and queue there.
    pub fn set_secondary_share(&mut self, share: f64) {
        self.sites.secondary_share = share.clamp(0.0, 1.0);
    }

    /// Whether this system is down.
    pub fn site_down(&self, site: u8) -> bool {
        self.sites
            .down
            .get(usize::from(site))
            .copied()
            .unwrap_or(false)
    }

    /// Calls cut off by each system's failures so far.
    pub fn calls_lost_with_site(&self) -> [u64; 2] {
        self.sites.lost
    }

    /// The system fails: every call it carried is cut off (a waiting caller counts as
    /// abandoned), and new callers arrive on the other system until [`Model::restore_site`].
    pub fn fail_site(&mut self, site: u8) {
        let Some(down) = self.sites.down.get_mut(usize::from(site)) else {
            return;
        };
        *down = true;
        let on_site: Vec<(SimCallId, bool)> = self
            .calls
            .values()
            .filter(|c| c.site == site)
            .map(|c| {
                let waiting =
                    !c.answered && matches!(c.phase, CallPhase::Queued | CallPhase::Ringing);
                (c.id, waiting)
            })
            .collect();
        for (id, waiting) in on_site {
            self.sites.lost[usize::from(site)] += 1;
            if waiting {
                self.on_abandon(id);
            } else {
                self.drop_call(id);
            }
        }
        self.flush();
    }

    /// The system is back: callers arrive on it again (calls that queued on the other system
    /// meanwhile stay there).
    pub fn restore_site(&mut self, site: u8) {
        if let Some(down) = self.sites.down.get_mut(usize::from(site)) {
            *down = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Model;
    use crate::Scenario;

    fn model(share: f64) -> Model {
        let scenario: Scenario = toml::from_str(
            r#"
            [sim]
            seed = 5
            [[user]]
            extn = "201"
            name = "Ann"
            [[queue]]
            name = "Sales"
            extn = "300"
            members = ["201"]
            [queue.traffic]
            calls_per_hour = 3600
            talk = { dist = "fixed", s = 600 }
            "#,
        )
        .unwrap();
        let mut m = Model::new(&scenario).unwrap();
        m.set_secondary_share(share);
        m
    }

    #[test]
    fn callers_arrive_on_both_systems_and_only_the_survivor_while_one_is_down() {
        let mut m = model(0.5);
        m.advance_to(acd_core::Timestamp(60_000));
        let sites: Vec<u8> = m.calls().map(|c| c.site).collect();
        assert!(sites.contains(&0) && sites.contains(&1), "{sites:?}");
        let on_primary = m.calls().filter(|c| c.site == 0).count() as u64;
        m.fail_site(0);
        assert_eq!(m.calls_lost_with_site()[0], on_primary);
        assert!(
            m.calls().all(|c| c.site == 1),
            "the primary's calls are cut off"
        );
        m.advance_to(acd_core::Timestamp(120_000));
        assert!(
            m.calls().all(|c| c.site == 1),
            "new callers arrive on the secondary"
        );
        m.restore_site(0);
        m.advance_to(acd_core::Timestamp(180_000));
        assert!(
            m.calls().any(|c| c.site == 0),
            "the primary takes callers again"
        );
    }

    #[test]
    fn without_a_pair_every_call_is_on_the_primary() {
        let mut m = model(0.0);
        m.advance_to(acd_core::Timestamp(60_000));
        assert!(m.calls().count() > 0);
        assert!(m.calls().all(|c| c.site == 0));
    }
}
