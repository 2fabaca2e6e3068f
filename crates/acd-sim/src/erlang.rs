//! Erlang C: the closed-form M/M/c queue the simulator's traffic model is validated against,
//! and a quick staffing sanity check for scenario authors.

/// Probability that a call has to wait, for `agents` servers and `offered` Erlangs of traffic.
/// Returns 1.0 when the queue is unstable (`offered >= agents`).
pub fn probability_wait(agents: u32, offered: f64) -> f64 {
    let c = f64::from(agents);
    if agents == 0 || offered >= c {
        return 1.0;
    }
    if offered <= 0.0 {
        return 0.0;
    }
    // Erlang B by the stable recurrence, then C from B.
    let mut b = 1.0;
    for k in 1..=agents {
        b = offered * b / (f64::from(k) + offered * b);
    }
    c * b / (c - offered * (1.0 - b))
}

/// Share of calls answered within `threshold_s` seconds.
pub fn service_level(agents: u32, offered: f64, mean_talk_s: f64, threshold_s: f64) -> f64 {
    let c = f64::from(agents);
    if offered >= c {
        return 0.0;
    }
    1.0 - probability_wait(agents, offered) * (-(c - offered) * threshold_s / mean_talk_s).exp()
}

/// Average speed of answer in seconds.
pub fn average_speed_of_answer(agents: u32, offered: f64, mean_talk_s: f64) -> f64 {
    let c = f64::from(agents);
    if offered >= c {
        return f64::INFINITY;
    }
    probability_wait(agents, offered) * mean_talk_s / (c - offered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        // One server: P(wait) = utilisation.
        assert!((probability_wait(1, 0.5) - 0.5).abs() < 1e-12);
        // Two servers, 1 Erlang: C = 1/3.
        assert!((probability_wait(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // Classic call-centre example: 10 agents, 8 Erlangs.
        let pw = probability_wait(10, 8.0);
        assert!((pw - 0.4092).abs() < 1e-3, "{pw}");
        let asa = average_speed_of_answer(10, 8.0, 180.0);
        assert!((asa - pw * 90.0).abs() < 1e-9);
        let sl = service_level(10, 8.0, 180.0, 20.0);
        assert!((sl - (1.0 - pw * (-40.0f64 / 180.0).exp())).abs() < 1e-12);
        assert_eq!(probability_wait(3, 3.0), 1.0);
    }
}
