//! `EXPLAIN QUERY PLAN`: listing and search use their indexes, and `--no-indexes` removes them.

use stampede_shop::db::{Database, DbOptions};

async fn open(no_indexes: bool, path: Option<std::path::PathBuf>) -> Database {
    let opts = DbOptions { path, products: 5_000, pool: 1, no_indexes, seed: 1 };
    Database::open(opts).await.expect("database opens").0
}

#[tokio::test]
async fn listing_and_search_use_their_indexes() {
    let db = open(false, None).await;
    let listing = db.explain_listing().await.unwrap().join("\n");
    assert!(listing.contains("USING INDEX idx_products_category_popularity"), "{listing}");
    assert!(!listing.contains("TEMP B-TREE"), "the index must give the order too: {listing}");
    let search = db.explain_search().await.unwrap().join("\n");
    assert!(search.contains("products_fts VIRTUAL TABLE INDEX"), "{search}");
    assert!(search.contains("USING INTEGER PRIMARY KEY"), "{search}");
    assert!(!search.lines().any(|l| l == "SCAN p" || l == "SCAN products"), "no full scan: {search}");
}

#[tokio::test]
async fn no_indexes_makes_them_full_scans() {
    let db = open(true, None).await;
    let listing = db.explain_listing().await.unwrap().join("\n");
    assert!(listing.lines().any(|l| l == "SCAN products"), "{listing}");
    assert!(listing.contains("USE TEMP B-TREE FOR ORDER BY"), "{listing}");
    assert!(!listing.contains("INDEX"), "{listing}");
    let search = db.explain_search().await.unwrap().join("\n");
    assert!(search.lines().any(|l| l == "SCAN products"), "{search}");
}

#[tokio::test]
async fn the_switch_applies_to_an_existing_database_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let plan = |db: Database| async move { db.explain_listing().await.unwrap().join("\n") };
    assert!(plan(open(true, Some(path.clone())).await).await.contains("SCAN products"));
    assert!(plan(open(false, Some(path.clone())).await).await.contains("USING INDEX"));
    assert!(plan(open(true, Some(path)).await).await.contains("SCAN products"));
}

#[tokio::test]
async fn an_unwritable_path_is_a_clear_error() {
    let err = Database::open(DbOptions {
        path: Some("/proc/definitely/not/here.db".into()),
        products: 10,
        pool: 1,
        no_indexes: false,
        seed: 1,
    })
    .await
    .unwrap_err();
    let shop_err = stampede_shop::ShopError::from(err);
    assert!(shop_err.is_user_error());
    let text = std::error::Error::source(&shop_err).unwrap().to_string();
    assert!(text.contains("/proc/definitely/not/here.db"), "{text}");
}
