//! [`Store`]: the shop's database, embedded SQLite (the default, no set-up) or PostgreSQL
//! (`--database postgres://…`), behind one set of async queries the origin calls.

use crate::db::{
    self, CheckoutOutcome, Database, DbError, OpenReport, Order, OrderLine, PoolMetrics, Product, ProductSummary, Sort,
};
use crate::pg::{BouncerFigures, PgDatabase, ServerFigures};

/// The shop's database.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(Database),
    Postgres(PgDatabase),
}

impl Store {
    /// Opens the database `config` names (seeding it on first use).
    pub async fn open(config: &crate::ShopConfig) -> Result<(Self, OpenReport), DbError> {
        match &config.database {
            Some(url) => {
                let (db, report) = PgDatabase::open(&config.pg_options(url)).await?;
                Ok((Self::Postgres(db), report))
            }
            None => {
                let (db, report) = Database::open(config.db_options()).await?;
                Ok((Self::Sqlite(db), report))
            }
        }
    }

    /// `sqlite` or `postgres`, for messages and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    pub fn products(&self) -> i64 {
        match self {
            Self::Sqlite(d) => d.products(),
            Self::Postgres(d) => d.products(),
        }
    }

    pub fn pool_metrics(&self) -> &PoolMetrics {
        match self {
            Self::Sqlite(d) => d.pool_metrics(),
            Self::Postgres(d) => d.pool_metrics(),
        }
    }

    pub async fn featured(&self, n: u32) -> Result<Vec<ProductSummary>, DbError> {
        self.list_products(None, Sort::Popularity, 1, n).await
    }

    pub async fn list_products(
        &self,
        category: Option<i64>,
        sort: Sort,
        page: u32,
        limit: u32,
    ) -> Result<Vec<ProductSummary>, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, _| db::list_products(c, category, sort, page, limit)).await,
            Self::Postgres(d) => d.list_products(category, sort, page, limit).await,
        }
    }

    pub async fn search(&self, q: String) -> Result<Vec<ProductSummary>, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, ctx| db::search(c, ctx, &q)).await,
            Self::Postgres(d) => d.search(&q).await,
        }
    }

    pub async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, _| db::product(c, id)).await,
            Self::Postgres(d) => d.product(id).await,
        }
    }

    /// Name and price of each product (`None` for an unknown id), in the order asked.
    pub async fn names_and_prices(&self, ids: Vec<i64>) -> Result<Vec<Option<(String, i64)>>, DbError> {
        match self {
            Self::Sqlite(d) => {
                d.run(move |c, _| {
                    ids.iter().map(|id| Ok(db::product(c, *id)?.map(|p| (p.name, p.price_cents)))).collect()
                })
                .await
            }
            Self::Postgres(d) => d.names_and_prices(&ids).await,
        }
    }

    pub async fn stock(&self, id: i64) -> Result<Option<i64>, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, _| db::stock(c, id)).await,
            Self::Postgres(d) => d.stock(id).await,
        }
    }

    pub async fn set_stock(&self, id: i64, stock: i64) -> Result<bool, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, ctx| db::set_stock(c, ctx, id, stock)).await,
            Self::Postgres(d) => d.set_stock(id, stock).await,
        }
    }

    /// Takes the stock of every line and creates the order, atomically; never oversells.
    pub async fn checkout(
        &self,
        session: String,
        lines: Vec<OrderLine>,
        now_unix: i64,
    ) -> Result<CheckoutOutcome, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, ctx| db::checkout(c, ctx, &session, &lines, now_unix)).await,
            Self::Postgres(d) => d.checkout(&session, &lines, now_unix).await,
        }
    }

    pub async fn store_receipt(&self, order_id: i64, receipt: String) -> Result<(), DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, ctx| db::store_receipt(c, ctx, order_id, &receipt)).await,
            Self::Postgres(d) => d.store_receipt(order_id, receipt).await,
        }
    }

    pub async fn order(&self, id: i64) -> Result<Option<Order>, DbError> {
        match self {
            Self::Sqlite(d) => d.run(move |c, _| db::order(c, id)).await,
            Self::Postgres(d) => d.order(id).await,
        }
    }

    pub async fn order_count(&self) -> Result<i64, DbError> {
        match self {
            Self::Sqlite(d) => d.run(|c, _| db::order_count(c)).await,
            Self::Postgres(d) => d.order_count().await,
        }
    }

    /// PostgreSQL's and PgBouncer's own figures (nothing for SQLite).
    pub async fn figures(&self) -> (Option<ServerFigures>, Option<BouncerFigures>) {
        match self {
            Self::Sqlite(_) => (None, None),
            Self::Postgres(d) => d.figures().await,
        }
    }
}
