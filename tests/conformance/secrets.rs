use std::time::Duration;

use blackbox::Family;
use shared::ids::ConnectionId;
use shared::ports::{SecretBundle, SecretStore};
use shared::secret_cache::CachedSecrets;

pub async fn stores_replaces_and_deletes_bundles(family: Family) {
    let secrets = family.secrets();
    let (a, b) = (ConnectionId::parse("acme").unwrap(), ConnectionId::parse("beta").unwrap());
    assert_eq!(secrets.get(&a).await.unwrap(), None);

    let first = SecretBundle::new().with("odoo_api_key", "key-1").with("webhook_secret", "whsec-1");
    secrets.put(&a, &first).await.unwrap();
    secrets.put(&b, &SecretBundle::new().with("odoo_api_key", "beta-key")).await.unwrap();
    assert_eq!(secrets.get(&a).await.unwrap(), Some(first), "{}", family.name());

    let rotated = SecretBundle::new().with("odoo_api_key", "key-2");
    secrets.put(&a, &rotated).await.unwrap();
    assert_eq!(secrets.get(&a).await.unwrap(), Some(rotated));

    secrets.delete(&a).await.unwrap();
    assert_eq!(secrets.get(&a).await.unwrap(), None);
    secrets.delete(&a).await.unwrap(); // deleting what is gone is fine
    assert_eq!(secrets.get(&b).await.unwrap().unwrap().get("odoo_api_key").unwrap().expose(), "beta-key");
}

pub async fn the_cache_serves_within_its_ttl(family: Family) {
    let id = ConnectionId::parse("acme").unwrap();
    let behind_its_back = family.secrets();
    let cached = CachedSecrets::new(family.secrets(), Duration::from_millis(500));
    behind_its_back.put(&id, &SecretBundle::new().with("odoo_api_key", "v1")).await.unwrap();
    assert_eq!(cached.get(&id).await.unwrap().unwrap().get("odoo_api_key").unwrap().expose(), "v1");

    // Rotated elsewhere (the console, another container): the cache keeps v1 until its TTL ends.
    behind_its_back.put(&id, &SecretBundle::new().with("odoo_api_key", "v2")).await.unwrap();
    assert_eq!(
        cached.get(&id).await.unwrap().unwrap().get("odoo_api_key").unwrap().expose(),
        "v1",
        "{}",
        family.name()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(cached.get(&id).await.unwrap().unwrap().get("odoo_api_key").unwrap().expose(), "v2");

    // Writes through the cache are seen at once.
    cached.put(&id, &SecretBundle::new().with("odoo_api_key", "v3")).await.unwrap();
    assert_eq!(cached.get(&id).await.unwrap().unwrap().get("odoo_api_key").unwrap().expose(), "v3");
}
