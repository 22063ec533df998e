//! The generator's own limits on real sockets: when this process runs out of file descriptors while
//! opening connections, the outcome is `generator_fd` (the generator's saturation), never a target
//! error, with both clients. Its own test binary, because it lowers this process's open-file limit.

use std::time::Duration;
use surge_engine::h1::{H1Pool, Reply};
use surge_engine::http::HttpClients;
use surge_metrics::Outcome;
use surge_plan::journey::{Method, RequestBuf};

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

#[tokio::test(flavor = "current_thread")]
async fn running_out_of_descriptors_is_the_generators_outcome_not_the_targets() {
    // A listener that never accepts: connections complete into its backlog and cost this process one
    // descriptor each, on the client side only.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let req = RequestBuf {
        method: Method::Get,
        path: b"/".to_vec(),
        ..RequestBuf::default()
    };
    // Leave room for a dozen more descriptors, then ask for 64 connections at once.
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let was = getrlimit(Resource::Nofile);
    let room = open_fds() + 12;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(room),
            maximum: was.maximum,
        },
    )
    .unwrap();

    let pool = H1Pool::new(64);
    let sends = (0..64).map(|_| async {
        let mut reply = Reply::default();
        match tokio::time::timeout(
            Duration::from_millis(500),
            pool.send(&base, &req, &mut reply),
        )
        .await
        {
            Err(_) => Outcome::Timeout,
            Ok(Err(o)) => o,
            Ok(Ok(())) => Outcome::Ok,
        }
    });
    let fast = futures_join(sends).await;
    let clients = HttpClients::new(64);
    let hyper_sends = (0..64).map(|_| async {
        match tokio::time::timeout(Duration::from_millis(500), clients.send(&base, &req, false))
            .await
        {
            Err(_) => Outcome::Timeout,
            Ok(Err(o)) => o,
            Ok(Ok(_)) => Outcome::Ok,
        }
    });
    let hyper = futures_join(hyper_sends).await;
    setrlimit(Resource::Nofile, was).unwrap();
    drop(listener);

    for (client, outcomes) in [("fast", &fast), ("hyper", &hyper)] {
        let fd = outcomes
            .iter()
            .filter(|o| **o == Outcome::GeneratorFd)
            .count();
        let other: Vec<_> = outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::GeneratorFd | Outcome::Timeout))
            .collect();
        assert!(fd > 0, "{client}: no generator_fd among {outcomes:?}");
        assert!(
            other.is_empty(),
            "{client}: target classes for our own limit: {other:?}"
        );
    }
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join<F: std::future::Future<Output = Outcome>>(
    futs: impl Iterator<Item = F>,
) -> Vec<Outcome> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<Outcome>> = vec![None; pinned.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(o) => out[i] = Some(o),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.unwrap_or(Outcome::Skipped))
        .collect()
}
