//! What a run's workers saw (`RunResult`), each worker's merged into one.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// What the workers saw, merged.
pub struct RunResult {
    pub elapsed: Duration,
    pub sent: u64,
    /// Latency in microseconds of every request, of the 2xx ones and of the 503s.
    pub all: Histogram<u64>,
    pub ok: Histogram<u64>,
    pub refused: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    pub retries: u64,
    /// Transport errors and timeouts that --retry sent again, by kind.
    pub retried_errors: BTreeMap<String, u64>,
    /// Answers that were retried (503, in-progress 409), by status.
    pub retried_statuses: BTreeMap<u16, u64>,
    /// Successes (201 for sign-ups, 200 otherwise) finished in each second of the run.
    pub timeline: Vec<u64>,
    pub created_ids: Vec<String>,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

impl RunResult {
    pub fn empty() -> Self {
        RunResult {
            elapsed: Duration::ZERO,
            sent: 0,
            all: histogram(),
            ok: histogram(),
            refused: histogram(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            retries: 0,
            retried_errors: BTreeMap::new(),
            retried_statuses: BTreeMap::new(),
            timeline: Vec::new(),
            created_ids: Vec::new(),
        }
    }

    pub fn merge(&mut self, other: RunResult) {
        self.sent += other.sent;
        self.all.add(&other.all).expect("same bounds");
        self.ok.add(&other.ok).expect("same bounds");
        self.refused.add(&other.refused).expect("same bounds");
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.retries += other.retries;
        for (k, v) in other.retried_errors {
            *self.retried_errors.entry(k).or_default() += v;
        }
        for (k, v) in other.retried_statuses {
            *self.retried_statuses.entry(k).or_default() += v;
        }
        if self.timeline.len() < other.timeline.len() {
            self.timeline.resize(other.timeline.len(), 0);
        }
        for (i, n) in other.timeline.into_iter().enumerate() {
            self.timeline[i] += n;
        }
        self.created_ids.extend(other.created_ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_timelines() {
        let mut a = RunResult::empty();
        a.sent = 2;
        a.statuses.insert(201, 2);
        a.timeline = vec![1, 1];
        a.all.record(10).unwrap();
        let mut b = RunResult::empty();
        b.sent = 3;
        b.statuses.insert(201, 1);
        b.statuses.insert(503, 2);
        b.timeline = vec![0, 0, 1];
        b.all.record(30).unwrap();
        a.merge(b);
        assert_eq!(a.sent, 5);
        assert_eq!(a.statuses[&201], 3);
        assert_eq!(a.statuses[&503], 2);
        assert_eq!(a.timeline, [1, 1, 1]);
        assert_eq!(a.all.len(), 2);
    }
}
