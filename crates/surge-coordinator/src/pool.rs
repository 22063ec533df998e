//! The one interface the run loop drives its workers through, whether they are threads of this process
//! ([`LocalPool`]) or processes that joined over HTTP ([`crate::remote::RemotePool`]). Both deliver their
//! figures as [`surge_engine::WorkerEvent`]s into the same channel; the pool is the way back: commands.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use surge_engine::{ShardSet, WorkerHandle};

/// Commands from the run loop to its workers.
pub trait Pool {
    /// A name per worker, in index order (for results and logs).
    fn names(&self) -> Vec<String>;
    /// Workers not yet done or lost whose last word is older than `limit`. In-process workers are never
    /// silent: they cannot be lost without the process.
    fn silent(&self, limit: Duration) -> Vec<usize>;
    /// Declares `worker` lost: nothing more is accepted from it. Returns the shards it ran.
    fn lose(&mut self, worker: usize) -> Vec<u32>;
    /// Adds shards to a worker: it runs their people from now on.
    fn add_shards(&mut self, worker: usize, shards: &[u32]);
    /// Where a lost worker's shards (units) go among the survivors, and the regions whose people
    /// now leave from workers not placed in them (placement by region only).
    fn redistribute(
        &self,
        shards: &[u32],
        survivors: &[usize],
    ) -> (Vec<(usize, Vec<u32>)>, Vec<String>) {
        (redistribute(shards, survivors), Vec::new())
    }
    /// Region -> the workers placed in it; empty when people are not placed by region.
    fn placement(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        Default::default()
    }
    /// Tells every worker to stop all load and send its last figures.
    fn stop_all(&mut self, reason: &str);
    /// Per worker, how far its corrected clock was from the coordinator's over the last exchanges of
    /// the run (remote workers only; in-process workers share this process's clock: none).
    fn clock_checks(&self) -> Vec<Option<surge_wire::clock::ClockEstimate>> {
        Vec::new()
    }
    /// Waits until the workers are gone (threads joined); called once the loop has ended.
    fn finish(self) -> impl Future<Output = ()> + Send;
}

/// Engine threads of this process.
pub struct LocalPool {
    handles: Vec<WorkerHandle>,
    shards: Vec<Arc<ShardSet>>,
}

impl LocalPool {
    /// A pool of already-spawned workers and the shard sets they read.
    pub fn new(handles: Vec<WorkerHandle>, shards: Vec<Arc<ShardSet>>) -> LocalPool {
        LocalPool { handles, shards }
    }
}

impl Pool for LocalPool {
    fn names(&self) -> Vec<String> {
        (0..self.handles.len())
            .map(|i| format!("local-{i}"))
            .collect()
    }

    fn silent(&self, _limit: Duration) -> Vec<usize> {
        Vec::new()
    }

    fn lose(&mut self, worker: usize) -> Vec<u32> {
        if let Some(h) = self.handles.get(worker) {
            h.stop();
        }
        self.shards
            .get(worker)
            .map(|s| s.list())
            .unwrap_or_default()
    }

    fn add_shards(&mut self, worker: usize, shards: &[u32]) {
        if let Some(set) = self.shards.get(worker) {
            shards.iter().for_each(|&s| set.add(s));
        }
    }

    fn stop_all(&mut self, _reason: &str) {
        self.handles.iter().for_each(|h| h.stop());
    }

    async fn finish(self) {
        let handles = self.handles;
        let _ =
            tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| h.join())).await;
    }
}

/// Shards `0..total` striped over `workers`: shard `s` goes to worker `s % workers`.
pub fn stripes(total: u32, workers: usize) -> Vec<Vec<u32>> {
    let n = workers.max(1);
    let mut out = vec![Vec::new(); n];
    for s in 0..total {
        out[s as usize % n].push(s);
    }
    out
}

/// Deals a lost worker's shards round-robin over the survivors: `(survivor, shards)` pairs.
pub fn redistribute(shards: &[u32], survivors: &[usize]) -> Vec<(usize, Vec<u32>)> {
    if survivors.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(usize, Vec<u32>)> = survivors.iter().map(|&w| (w, Vec::new())).collect();
    for (i, &s) in shards.iter().enumerate() {
        out[i % survivors.len()].1.push(s);
    }
    out.retain(|(_, s)| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_cover_every_shard_once() {
        let s = stripes(256, 3);
        assert_eq!(s.len(), 3);
        let mut all: Vec<u32> = s.concat();
        all.sort_unstable();
        assert_eq!(all, (0..256).collect::<Vec<_>>());
        assert_eq!(s[0].len(), 86);
    }

    #[test]
    fn lost_shards_go_to_every_survivor() {
        let moved = redistribute(&[1, 4, 7, 10, 13], &[0, 2]);
        assert_eq!(moved, vec![(0, vec![1, 7, 13]), (2, vec![4, 10])]);
        assert!(redistribute(&[1], &[]).is_empty());
    }
}
