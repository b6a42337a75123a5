//! Changes read back from Odoo by `write_date`, on both transports: a transaction's records
//! share one second, pages go by `(write_date, id)` so none is skipped or read twice within a
//! poll, and the overlap finds what a long transaction committed late.

use chrono::{Duration, TimeZone, Utc};
use shared::odoo::changes::{ChangeMark, ChangeQuery, read_changes};
use shared::odoo::{TransportChoice, Val};

fn partners(names: &[String]) -> Val {
    Val::List(names.iter().map(|n| Val::map([("name", Val::from(n.as_str()))])).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_date_marks_find_every_change_once_and_late_commits_in_the_overlap() {
    for transport in [TransportChoice::XmlRpc, TransportChoice::Json2] {
        let sandbox = super::sandbox(19).await;
        let odoo = super::client(&sandbox, transport).await;
        let t0 = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        // One transaction of five partners, then one of three a second later.
        sandbox.set_clock(Some(t0));
        let first: Vec<String> = (0..5).map(|i| format!("Batch A {i}")).collect();
        let a = odoo.create_many("res.partner", partners(&first).as_list().unwrap().to_vec(), None).await.unwrap();
        sandbox.set_clock(Some(t0 + Duration::seconds(1)));
        let second: Vec<String> = (0..3).map(|i| format!("Batch B {i}")).collect();
        let b = odoo.create_many("res.partner", partners(&second).as_list().unwrap().to_vec(), None).await.unwrap();
        let rows = sandbox.read("res.partner", &a, &["write_date"]);
        assert!(rows.iter().all(|r| r.get("write_date") == rows[0].get("write_date")), "one transaction, one second");

        let query = ChangeQuery {
            model: "res.partner",
            fields: &["name"],
            filter: vec![Val::list([Val::from("name"), Val::from("like"), Val::from("Batch")])],
            overlap: Duration::seconds(30),
            page_size: 2,
        };
        let now = t0 + Duration::minutes(1);
        let all = read_changes(&odoo, &query, None, now).await.unwrap();
        let ids: Vec<i64> = all.changes.iter().map(|c| c.mark.id).collect();
        assert_eq!(ids, [a.clone(), b.clone()].concat(), "{transport:?}: every record once, oldest first");
        assert_eq!(all.requests, 5, "4 full pages of 2, then an empty one");
        assert!(all.changes.iter().all(|c| !c.before_mark));
        let mark = all.mark.unwrap();
        assert_eq!(mark, ChangeMark { write_date: (t0 + Duration::seconds(1)).naive_utc(), id: b[2] });
        assert_eq!(ChangeMark::from_watermark(&mark.to_watermark()), mark);

        // Ten seconds on, an address edited; then a long transaction that began at +5 s commits.
        sandbox.set_clock(Some(t0 + Duration::seconds(10)));
        odoo.write("res.partner", &[a[1]], Val::map([("city", Val::from("Lyon"))])).await.unwrap();
        let next = read_changes(&odoo, &query, Some(mark), now).await.unwrap();
        let fresh: Vec<i64> = next.changes.iter().filter(|c| !c.before_mark).map(|c| c.mark.id).collect();
        assert_eq!(fresh, [a[1]]);
        let mark = next.mark.unwrap();
        sandbox.set_clock(Some(t0 + Duration::seconds(5)));
        odoo.write("res.partner", &[b[0]], Val::map([("city", Val::from("Nantes"))])).await.unwrap();
        let late = read_changes(&odoo, &query, Some(mark), now).await.unwrap();
        let found = late.changes.iter().find(|c| c.mark.id == b[0]).expect("the late commit is in the overlap");
        assert!(found.before_mark, "older than the mark: only its content tells it is new");
        assert_eq!(found.row.get("name").and_then(Val::as_str), Some("Batch B 0"));
        assert_eq!(late.mark, Some(mark), "the mark never goes back");
        // Without the overlap it would have been missed.
        let no_overlap = ChangeQuery { overlap: Duration::zero(), ..query.clone() };
        let missed = read_changes(&odoo, &no_overlap, Some(mark), now).await.unwrap();
        assert!(missed.changes.iter().all(|c| c.mark.id != b[0]), "{:?}", missed.changes);
        // What is written after the poll's end waits for the next poll.
        sandbox.set_clock(Some(now + Duration::seconds(1)));
        odoo.write("res.partner", &[a[4]], Val::map([("city", Val::from("Brest"))])).await.unwrap();
        let capped = read_changes(&odoo, &query, Some(mark), now).await.unwrap();
        assert!(capped.changes.iter().all(|c| c.mark.id != a[4]), "{transport:?}");
    }
}
