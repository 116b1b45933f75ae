//! The published ranking formula (docs/ranking.md). Pure: the same inputs give the same score
//! everywhere, and the directory returns every input and term so anyone can recompute it.
//!
//! score = ln(1 + V) + 1.5·ln(1 + U) + ln(1 + T/50) + N + F
//!
//! V = viewers + 0.25·guests present now; U = distinct tippers in the last 30 minutes; T = LIVE
//! tipped in the last 30 minutes with each tipper's contribution capped at [`TIP_CAP_LIVE`];
//! N = 1.5·max(0, 1 − account_age_days/14), a boost for new models that ends after 14 days;
//! F = exp(−minutes_live/15), a boost for a show that just started. Hours online earn nothing:
//! no term grows with time spent live.

use livestars_api::ScoreComponents;

/// Identifies this formula in API responses; bump it when the formula changes.
pub const FORMULA: &str = "v1: ln(1+V) + 1.5*ln(1+U) + ln(1+T/50) + N + F";
/// A guest (not signed in) counts as a quarter of a signed-in viewer: guests are free to fake.
pub const GUEST_WEIGHT: f64 = 0.25;
/// Per-tipper cap on T, in LIVE, so that one whale cannot buy the top of the directory.
pub const TIP_CAP_LIVE: f64 = 500.0;
/// Days a new model's boost lasts.
pub const NEWCOMER_DAYS: f64 = 14.0;
/// Minutes in which the fresh-show boost falls to 1/e.
pub const FRESH_MINUTES: f64 = 15.0;

/// The inputs of the formula for one room.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Inputs {
    pub viewers: i32,
    pub guests: i32,
    pub distinct_tippers_30m: i64,
    /// Already capped per tipper.
    pub tipped_live_30m: f64,
    pub account_age_days: f64,
    /// `None` when the room is not showing: no fresh-show boost.
    pub minutes_live: Option<f64>,
}

/// Score a room.
pub fn score(i: &Inputs) -> (f64, ScoreComponents) {
    let v = f64::from(i.viewers.max(0)) + GUEST_WEIGHT * f64::from(i.guests.max(0));
    let audience = v.ln_1p();
    let tippers = 1.5 * (i.distinct_tippers_30m.max(0) as f64).ln_1p();
    let tips = (i.tipped_live_30m.max(0.0) / 50.0).ln_1p();
    let newcomer = 1.5 * (1.0 - i.account_age_days.max(0.0) / NEWCOMER_DAYS).max(0.0);
    let minutes = i.minutes_live.map(|m| m.max(0.0));
    let fresh = minutes.map_or(0.0, |m| (-m / FRESH_MINUTES).exp());
    let total = audience + tippers + tips + newcomer + fresh;
    (
        total,
        ScoreComponents {
            viewers: i.viewers,
            guests: i.guests,
            distinct_tippers_30m: i.distinct_tippers_30m,
            tipped_live_30m: i.tipped_live_30m,
            account_age_days: i.account_age_days,
            minutes_live: minutes.unwrap_or(0.0),
            audience,
            tippers,
            tips,
            newcomer,
            fresh,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn worked_example_from_the_docs() {
        // docs/ranking.md: 40 viewers, 8 guests, 3 tippers, 120 LIVE, 7-day-old account, 30 min.
        let (s, c) = score(&Inputs {
            viewers: 40,
            guests: 8,
            distinct_tippers_30m: 3,
            tipped_live_30m: 120.0,
            account_age_days: 7.0,
            minutes_live: Some(30.0),
        });
        let expected = 43f64.ln() + 1.5 * 4f64.ln() + 3.4f64.ln() + 0.75 + (-2f64).exp();
        assert!(close(s, expected), "{s} != {expected}");
        assert!(close(
            s,
            c.audience + c.tippers + c.tips + c.newcomer + c.fresh
        ));
        assert!((s - 7.94975).abs() < 1e-4, "{s}");
    }

    #[test]
    fn hours_online_earn_nothing() {
        let at = |m: f64| {
            score(&Inputs {
                viewers: 10,
                account_age_days: 100.0,
                minutes_live: Some(m),
                ..Inputs::default()
            })
            .0
        };
        assert!(at(60.0) < at(1.0));
        assert!(at(600.0) <= at(60.0));
        assert!(close(at(6000.0), 11f64.ln()));
    }

    #[test]
    fn newcomer_boost_ends_after_two_weeks() {
        let n = |d: f64| {
            score(&Inputs {
                account_age_days: d,
                ..Inputs::default()
            })
            .1
            .newcomer
        };
        assert!(close(n(0.0), 1.5));
        assert!(close(n(7.0), 0.75));
        assert!(close(n(14.0), 0.0));
        assert!(close(n(400.0), 0.0));
    }

    #[test]
    fn a_guest_weighs_a_quarter() {
        let four_guests = score(&Inputs {
            guests: 4,
            account_age_days: 30.0,
            ..Inputs::default()
        });
        let one_viewer = score(&Inputs {
            viewers: 1,
            account_age_days: 30.0,
            ..Inputs::default()
        });
        assert!(close(four_guests.0, one_viewer.0));
    }
}
