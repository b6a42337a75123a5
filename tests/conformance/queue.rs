use std::collections::HashSet;
use std::time::Duration;

use blackbox::Family;
use shared::ports::OutgoingMessage;

const NOW: Duration = Duration::ZERO;
const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);

fn message(group: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage { group_id: group.into(), deduplication_id: format!("{group}-{body}"), body: body.into() }
}

/// Receives until `want` messages arrived or `patience` passed, without deleting them.
async fn receive_n(
    queue: &dyn blackbox::Queue,
    want: usize,
    visibility: Duration,
    patience: Duration,
) -> Vec<shared::ports::ReceivedMessage> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut got = Vec::new();
    while got.len() < want && tokio::time::Instant::now() < deadline {
        got.extend(queue.receive(want - got.len(), Duration::from_millis(200), visibility).await.unwrap());
    }
    got
}

pub async fn delivers_what_was_sent_and_forgets_what_was_deleted(family: Family) {
    let (queue, _dlq) = family.queue_with_dlq(5).await;
    let batch: Vec<_> = (0..12).map(|i| message(&format!("g{i}"), &format!("body {i}"))).collect();
    // More than SQS takes in one call: the adapter splits the batch.
    queue.send_batch(&batch).await.unwrap();

    let got = receive_n(&*queue, 12, LONG, Duration::from_secs(10)).await;
    let bodies: HashSet<_> = got.iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies, batch.iter().map(|m| m.body.clone()).collect(), "{}", family.name());
    assert!(got.iter().all(|m| m.receive_count == 1));
    for m in &got {
        queue.delete(&m.receipt).await.unwrap();
    }
    assert!(queue.receive(10, NOW, LONG).await.unwrap().is_empty());
    assert_eq!(queue.approximate_depth().await.unwrap(), 0);
}

pub async fn keeps_order_within_a_group_and_one_in_flight_per_group(family: Family) {
    let (queue, _dlq) = family.queue_with_dlq(5).await;
    queue.send_batch(&[message("a", "a1"), message("a", "a2"), message("b", "b1"), message("a", "a3")]).await.unwrap();

    // While a1 is in flight, nothing else from group a may be handed out.
    let first = queue.receive(1, NOW, LONG).await.unwrap();
    assert_eq!(first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["a1"]);
    let second = queue.receive(1, NOW, LONG).await.unwrap();
    assert_eq!(second.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["b1"]);
    assert!(queue.receive(10, NOW, LONG).await.unwrap().is_empty(), "{}: a2 overtook a1", family.name());

    let mut order = vec![first[0].body.clone()];
    queue.delete(&first[0].receipt).await.unwrap();
    queue.delete(&second[0].receipt).await.unwrap();
    for _ in 0..2 {
        let next = queue.receive(1, NOW, LONG).await.unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].group_id, "a");
        order.push(next[0].body.clone());
        queue.delete(&next[0].receipt).await.unwrap();
    }
    assert_eq!(order, ["a1", "a2", "a3"]);
}

pub async fn drops_duplicates_by_deduplication_id(family: Family) {
    let (queue, _dlq) = family.queue_with_dlq(5).await;
    let m = message("g", "once");
    queue.send_batch(std::slice::from_ref(&m)).await.unwrap();
    // A retried send (say, after a timeout) must not post the order twice.
    queue.send_batch(std::slice::from_ref(&m)).await.unwrap();
    let other_version = OutgoingMessage { deduplication_id: "g-twice".into(), body: "twice".into(), ..m.clone() };
    queue.send_batch(&[other_version]).await.unwrap();

    let mut bodies = Vec::new();
    loop {
        let got = queue.receive(10, Duration::from_millis(200), LONG).await.unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            bodies.push(m.body);
            queue.delete(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(bodies, ["once", "twice"], "{}", family.name());
}

pub async fn redelivers_after_the_visibility_timeout(family: Family) {
    let (queue, _dlq) = family.queue_with_dlq(5).await;
    queue.send_batch(&[message("g", "order 1042")]).await.unwrap();

    // The consumer takes the message and dies without deleting it.
    let taken = queue.receive(1, NOW, SHORT).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(queue.receive(1, NOW, SHORT).await.unwrap().is_empty(), "{}: visible while in flight", family.name());

    let again = receive_n(&*queue, 1, LONG, Duration::from_secs(5)).await;
    assert_eq!(again.len(), 1, "{}: never redelivered", family.name());
    assert_eq!(again[0].body, "order 1042");
    assert_eq!(again[0].message_id, taken[0].message_id);
    assert_eq!(again[0].receive_count, 2);
    queue.delete(&again[0].receipt).await.unwrap();
    assert_eq!(queue.approximate_depth().await.unwrap(), 0);
}

pub async fn dead_letters_after_max_receives(family: Family) {
    let (queue, dlq) = family.queue_with_dlq(2).await;
    queue.send_batch(&[message("g", "poison"), message("g", "next")]).await.unwrap();

    // Two consumers in a row fail on the poison message.
    for attempt in 1..=2 {
        let got = receive_n(&*queue, 1, SHORT, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "{}: attempt {attempt}", family.name());
        assert_eq!((got[0].body.as_str(), got[0].receive_count), ("poison", attempt));
    }
    // The third receive finds it over the limit: it goes to the dead-letter queue, and the rest of
    // its group moves on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let got = receive_n(&*queue, 1, LONG, Duration::from_secs(5)).await;
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["next"], "{}", family.name());
    queue.delete(&got[0].receipt).await.unwrap();

    let dead = receive_n(&*dlq, 1, LONG, Duration::from_secs(5)).await;
    assert_eq!(dead.len(), 1, "{}: nothing in the dead-letter queue", family.name());
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].group_id, "g");
    dlq.delete(&dead[0].receipt).await.unwrap();
    assert_eq!(dlq.approximate_depth().await.unwrap(), 0);
}

pub async fn extended_visibility_keeps_a_slow_batch_from_being_delivered_twice(family: Family) {
    let (queue, _dlq) = family.queue_with_dlq(5).await;
    queue.send_batch(&[message("g", "slow")]).await.unwrap();
    let taken = queue.receive(1, NOW, SHORT).await.unwrap();
    assert_eq!(taken.len(), 1);
    // The batch runs past its visibility timeout, extending it as it goes.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        queue.extend_visibility(&taken[0].receipt, SHORT).await.unwrap();
        assert!(
            queue.receive(1, NOW, SHORT).await.unwrap().is_empty(),
            "{}: delivered again while in hand",
            family.name()
        );
    }
    // Not extended any more: it comes back.
    let again = receive_n(&*queue, 1, LONG, Duration::from_secs(5)).await;
    assert_eq!(again.len(), 1, "{}: never redelivered", family.name());
    assert_eq!(again[0].receive_count, 2);
}
