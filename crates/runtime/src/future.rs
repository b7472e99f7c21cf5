//! Small future combinators for shard-local code: race two futures, await many.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

/// Which of two raced futures finished first.
#[derive(Debug)]
pub enum Either<A, B> {
    /// The first one.
    Left(A),
    /// The second one.
    Right(B),
}

/// Poll both; return the first to finish (the other is dropped, i.e. cancelled). `a` is polled
/// first, so it wins ties.
pub async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Await every future concurrently; outputs in input order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut left = futures.len();
    poll_fn(|cx| {
        for (i, f) in futures.iter_mut().enumerate() {
            if outputs[i].is_none() {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    outputs[i] = Some(v);
                    left -= 1;
                }
            }
        }
        if left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Resolve when the first of `futures` does (the rest are dropped). Never resolves for an empty
/// list.
pub async fn select_any<F: Future + Unpin>(mut futures: Vec<F>) -> F::Output {
    poll_fn(|cx| {
        for f in futures.iter_mut() {
            if let Poll::Ready(v) = Pin::new(f).poll(cx) {
                return Poll::Ready(v);
            }
        }
        Poll::Pending
    })
    .await
}
