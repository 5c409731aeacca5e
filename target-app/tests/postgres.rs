//! The shop on a real PostgreSQL (directly and through PgBouncer in transaction mode) started by
//! `scenarios/stack/up.sh`: the same answers as SQLite for the same seed, the index switch both
//! ways, checkouts that never oversell or deadlock under concurrency, and the figures `/metrics`
//! shows. Needs the Debian packages postgresql, pgbouncer and redis-server, so it is ignored by
//! default; `.ci/run` installs them and runs it:
//!
//!     cargo test -p stampede-shop --test postgres -- --ignored

mod common;

use std::path::PathBuf;
use std::process::Command;

use stampede_shop::db::CheckoutOutcome;
use stampede_shop::db::{Database, DbOptions, OrderLine, Sort};
use stampede_shop::pg::{PgDatabase, PgOptions};

/// A stack from `up.sh`, torn down by `down.sh` when dropped.
struct Stack {
    dir: String,
    database: String,
    pgbouncer: String,
    pgbouncer_admin: String,
}

impl Stack {
    fn up() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = Command::new("bash").arg(root.join("scenarios/stack/up.sh")).output().expect("run up.sh");
        assert!(out.status.success(), "up.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("up.sh printed no {name}: {stdout}"))
                .trim_matches(['\'', '"'])
                .to_owned()
        };
        Self {
            dir: var("STACK_DIR"),
            database: var("DATABASE_URL"),
            pgbouncer: var("PGBOUNCER_URL"),
            pgbouncer_admin: var("PGBOUNCER_ADMIN_URL"),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let _ = Command::new("bash").arg(root.join("scenarios/stack/down.sh")).arg(&self.dir).status();
    }
}

const PRODUCTS: u32 = 5_000;

fn pg(url: &str, no_indexes: bool, pool: usize) -> PgOptions {
    PgOptions {
        url: url.to_owned(),
        products: PRODUCTS,
        pool,
        no_indexes,
        seed: 1,
        prepare: true,
        pgbouncer_admin: None,
        wait: std::time::Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, PgBouncer and Redis (Debian packages); .ci/run runs it"]
async fn postgres_answers_as_sqlite_and_never_oversells() {
    let stack = Stack::up();
    let (pg_db, report) = PgDatabase::open(&pg(&stack.database, false, 8)).await.expect("postgres opens");
    assert!(report.seeded_in.is_some(), "a fresh database is seeded");
    assert_eq!(pg_db.products(), i64::from(PRODUCTS));
    let sqlite = Database::open(DbOptions { path: None, products: PRODUCTS, pool: 1, no_indexes: false, seed: 1 })
        .await
        .expect("sqlite opens")
        .0;

    // The same catalog and the same queries: the same pages, in the same order.
    for (category, sort, page) in
        [(Some(3), Sort::Popularity, 1), (Some(7), Sort::PriceAsc, 4), (None, Sort::PriceDesc, 2)]
    {
        let a = sqlite.run(move |c, _| stampede_shop::db::list_products(c, category, sort, page, 25)).await.unwrap();
        let b = pg_db.list_products(category, sort, page, 25).await.unwrap();
        let ids = |v: &[stampede_shop::db::ProductSummary]| v.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "listing {category:?} {sort:?} page {page}");
        assert_eq!(a.len(), 25);
    }
    let a = sqlite.run(|c, _| stampede_shop::db::product(c, 42)).await.unwrap().unwrap();
    let b = pg_db.product(42).await.unwrap().unwrap();
    assert_eq!((a.name, a.category, a.price_cents, a.popularity), (b.name, b.category, b.price_cents, b.popularity));
    assert!(!pg_db.search("wool").await.unwrap().is_empty(), "search finds a common material");

    // Every pooled connection cut by the server (as a restart or an administrator would): the
    // pool replaces each closed one at its next use, and the shop answers again.
    let killed = Command::new("psql")
        .args([&stack.database, "-XAtq", "-c"])
        .arg(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'stampede-shop' AND pid <> pg_backend_pid()",
        )
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&killed.stdout).trim(), "8", "{killed:?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for page in 1..=16 {
        pg_db.list_products(Some(3), Sort::Popularity, page, 25).await.expect("answers after its connections were cut");
    }

    // The index switch, both ways, on the existing database; PostgreSQL's own plan says so.
    let plan = pg_db.explain_listing(7).await.unwrap().join("\n");
    assert!(plan.contains("idx_products_category_popularity"), "{plan}");
    drop(pg_db);
    let (unindexed, report) = PgDatabase::open(&pg(&stack.database, true, 2)).await.unwrap();
    assert!(report.seeded_in.is_none(), "reused, not seeded again");
    let plan = unindexed.explain_listing(7).await.unwrap().join("\n");
    assert!(plan.contains("Seq Scan on products") && !plan.contains("idx_products"), "{plan}");
    drop(unindexed);

    // Through PgBouncer in transaction mode: 60 checkouts at once of a product with 10 units,
    // half of them also taking another product (in the other order, which would deadlock without
    // the ordered locking): exactly 10 placed, 50 refused, stock 0, no errors.
    let mut opts = pg(&stack.pgbouncer, false, 16);
    opts.pgbouncer_admin = Some(stack.pgbouncer_admin.clone());
    let (db, _) = PgDatabase::open(&opts).await.expect("open through pgbouncer");
    assert!(db.set_stock(7, 10).await.unwrap());
    assert!(db.set_stock(8, 1_000).await.unwrap());
    let orders_before = db.order_count().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut lines = vec![OrderLine { product_id: 8, quantity: 1 }, OrderLine { product_id: 7, quantity: 1 }];
            if i % 2 == 0 {
                lines.reverse();
            }
            db.checkout(&format!("session{i}"), &lines, 0).await
        }));
    }
    let (mut placed, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap().expect("no database error (no deadlock, no lost statement)") {
            CheckoutOutcome::Placed { .. } => placed += 1,
            CheckoutOutcome::OutOfStock { product_id: 7, .. } => refused += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((placed, refused), (10, 50));
    assert_eq!(db.stock(7).await.unwrap(), Some(0), "never oversold");
    assert_eq!(db.stock(8).await.unwrap(), Some(990), "refused checkouts took nothing");
    assert_eq!(db.order_count().await.unwrap() - orders_before, 10);

    // The figures /metrics shows: PostgreSQL's backends and PgBouncer's pools.
    let (server, bouncer) = db.figures().await;
    let server = server.expect("pg_stat_activity read through PgBouncer");
    assert!(server.max_connections >= 100, "{server:?}");
    assert!(server.commits > 0, "{server:?}");
    let bouncer = bouncer.expect("SHOW POOLS read from the admin console");
    assert!(bouncer.sv_active + bouncer.sv_idle + bouncer.sv_used > 0, "{bouncer:?}");
}

/// The `shop` binary with `--origins 3` on PostgreSQL and Redis, stopped when dropped (its stdin
/// closes).
struct ShopProcess {
    child: std::process::Child,
    origin: String,
}

impl ShopProcess {
    fn start(args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_shop"))
            .args(args)
            .arg("--stop-on-stdin-eof")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the shop");
        let stdout = child.stdout.take().expect("stdout");
        let mut origin = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("shop stdout");
            if let Some(u) = line.strip_prefix("origin: ") {
                origin = u.to_owned();
            }
            if line == "ready" {
                break;
            }
        }
        assert!(origin.starts_with("http://127.0.0.1:"), "the shop printed its origin: {origin:?}");
        Self { child, origin }
    }
}

impl Drop for ShopProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, PgBouncer and Redis (Debian packages); .ci/run runs it"]
async fn origins_share_sessions_rate_limits_and_product_documents_through_redis() {
    let stack = Stack::up();
    let redis = stack_var(&stack.dir, "REDIS_URL");
    // Without Redis the processes could not share sessions: refused, with the fix (exit 2).
    let refused = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["--database", &stack.database, "--origins", "3"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--origins needs --database"), "{refused:?}");

    let shop = ShopProcess::start(&[
        "--database",
        &stack.pgbouncer,
        "--pgbouncer-admin",
        &stack.pgbouncer_admin,
        "--redis",
        &redis,
        "--origins",
        "3",
        "--db-pool",
        "4",
        "--products",
        "5000",
        "--checkout-limit",
        "2",
    ]);
    let base = shop.origin.clone();
    // A new connection per request: the kernel spreads them over the three processes.
    let fresh = common::Http::new;
    let cookie = common::cart_with(&fresh(), &base, 42, 1).await;
    for _ in 0..12 {
        let cart = fresh().get_with(&format!("{base}/api/cart"), &[("cookie", &cookie)]).await.json();
        assert_eq!(cart["items"][0]["product_id"], 42, "every process sees the cart: {cart}");
    }
    let etags: std::collections::BTreeSet<String> = futures_join(12, || {
        let base = base.clone();
        async move { fresh().get(&format!("{base}/api/products/42")).await.header("etag").unwrap().to_owned() }
    })
    .await;
    assert_eq!(etags.len(), 1, "one product document, shared through Redis: {etags:?}");

    // The checkout rate limit (2 per window) counts checkouts made through any process.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let add = fresh()
            .post(&format!("{base}/api/cart/items"), &[("cookie", &cookie)], r#"{"product_id": 43, "quantity": 1}"#)
            .await;
        assert_eq!(add.status, 200);
        statuses.push(fresh().post(&format!("{base}/api/checkout"), &[("cookie", &cookie)], "").await.status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 429]);

    let metrics = String::from_utf8_lossy(&fresh().get(&format!("{base}/metrics")).await.body).into_owned();
    for name in [
        "shop_db_info{database=\"postgres\"} 1",
        "shop_pg_connections{state=\"idle\"}",
        "shop_pgbouncer_clients{state=\"waiting\"}",
        "shop_redis_commands_total",
        "shop_redis_errors_total 0",
    ] {
        assert!(metrics.contains(name), "/metrics has {name}:\n{metrics}");
    }
}

fn stack_var(dir: &str, name: &str) -> String {
    let env = std::fs::read_to_string(format!("{dir}/env")).expect("the stack's env file");
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .unwrap_or_else(|| panic!("no {name} in {env}"))
        .trim_matches(['\'', '"'])
        .to_owned()
}

/// Runs `n` copies of `f` at once and collects their answers.
async fn futures_join<T, F, Fut>(n: usize, f: F) -> std::collections::BTreeSet<T>
where
    T: Ord + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(f())).collect();
    let mut out = std::collections::BTreeSet::new();
    for t in tasks {
        out.insert(t.await.unwrap());
    }
    out
}
