//! Per-connection poll schedules in EventBridge Scheduler (moto).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_gets_its_own_poll_schedule() {
    let config = blackbox::moto_config().await;
    let client = aws_sdk_scheduler::Client::new(&config);
    let schedules = shared::aws::PollSchedules::new(
        client,
        "arn:aws:lambda:us-east-1:123456789012:function:ml-connector-WooCommercePollerFunction",
        "arn:aws:iam::123456789012:role/ml-connector-PollSchedulerRole",
        "default",
    );
    let a =
        shared::ids::ConnectionId::parse(format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).unwrap();
    assert_eq!(schedules.get(&a).await.unwrap(), None);
    schedules.ensure(&a, "rate(15 minutes)").await.unwrap();
    let (expression, input) = schedules.get(&a).await.unwrap().unwrap();
    assert_eq!(expression, "rate(15 minutes)");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&input).unwrap()["connection_id"], a.as_str());
    // Ensuring again updates in place.
    schedules.ensure(&a, "rate(5 minutes)").await.unwrap();
    assert_eq!(schedules.get(&a).await.unwrap().unwrap().0, "rate(5 minutes)");
    schedules.remove(&a).await.unwrap();
    assert_eq!(schedules.get(&a).await.unwrap(), None);
    schedules.remove(&a).await.unwrap();
}
