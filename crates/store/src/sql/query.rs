//! The statements of the query layer, run on either backend's connection.
//!
//! A [`Q`] carries its SQL (parameters written `$1`, `$2`, …, which SQLite's driver reads
//! as numbered parameters too) and its arguments as plain values, so the code that builds
//! a statement names no database. [`Conn`] runs one on a connection of either backend and
//! [`Get`] reads a column from the row it returns. The few value types the store binds and
//! reads are all there is to say about a database's types here: sqlx's generic traits
//! need their bounds spelled out on every generic function, these need them once, in the
//! blanket impls at the end.

use std::borrow::Cow;

use async_trait::async_trait;
use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Row, Type};

/// A bound argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(Option<String>),
    Bool(bool),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}

/// A statement with its arguments.
#[derive(Debug, Clone)]
pub(crate) struct Q {
    pub sql: Cow<'static, str>,
    pub args: Vec<Arg>,
}

/// A statement; bind its `$n` parameters in order with [`Q::bind`].
pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Q {
    Q {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Q {
    pub fn bind(mut self, value: impl Into<Arg>) -> Q {
        self.args.push(value.into());
        self
    }

    /// Appends SQL text (for statements built piece by piece).
    pub fn push(mut self, sql: &str) -> Q {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends the next parameter (`$n`) and binds `value` to it.
    pub fn push_bind(mut self, value: impl Into<Arg>) -> Q {
        let n = self.args.len() + 1;
        self.sql.to_mut().push_str(&format!("${n}"));
        self.bind(value)
    }

    pub async fn execute<C: Conn>(self, conn: &mut C) -> sqlx::Result<u64> {
        conn.run(self).await
    }

    pub async fn fetch_all<C: Conn>(self, conn: &mut C) -> sqlx::Result<Vec<C::Row>> {
        conn.all(self).await
    }

    pub async fn fetch_optional<C: Conn>(self, conn: &mut C) -> sqlx::Result<Option<C::Row>> {
        conn.optional(self).await
    }

    pub async fn fetch_one<C: Conn>(self, conn: &mut C) -> sqlx::Result<C::Row> {
        conn.optional(self).await?.ok_or(sqlx::Error::RowNotFound)
    }
}

/// A connection of either backend (a pooled one, or the write transaction's).
#[async_trait]
pub(crate) trait Conn: Send {
    type Row: Get + Send + Sync;
    /// Rows affected.
    async fn run(&mut self, q: Q) -> sqlx::Result<u64>;
    async fn all(&mut self, q: Q) -> sqlx::Result<Vec<Self::Row>>;
    async fn optional(&mut self, q: Q) -> sqlx::Result<Option<Self::Row>>;
}

/// One column of a row, by name.
pub(crate) trait Get {
    fn int(&self, col: &str) -> sqlx::Result<i64>;
    fn str(&self, col: &str) -> sqlx::Result<&str>;
    fn opt_str(&self, col: &str) -> sqlx::Result<Option<&str>>;
    fn bool(&self, col: &str) -> sqlx::Result<bool>;

    /// The column as `T` (what the left-hand side asks for).
    fn try_get<'r, T: Value<'r>>(&'r self, col: &str) -> sqlx::Result<T>
    where
        Self: Sized,
    {
        T::read(self, col)
    }
}

/// A type [`Get::try_get`] reads.
pub(crate) trait Value<'r>: Sized {
    fn read<R: Get>(row: &'r R, col: &str) -> sqlx::Result<Self>;
}

impl Value<'_> for i64 {
    fn read<R: Get>(row: &R, col: &str) -> sqlx::Result<i64> {
        row.int(col)
    }
}
impl Value<'_> for bool {
    fn read<R: Get>(row: &R, col: &str) -> sqlx::Result<bool> {
        row.bool(col)
    }
}
impl<'r> Value<'r> for &'r str {
    fn read<R: Get>(row: &'r R, col: &str) -> sqlx::Result<&'r str> {
        row.str(col)
    }
}
impl<'r> Value<'r> for Option<&'r str> {
    fn read<R: Get>(row: &'r R, col: &str) -> sqlx::Result<Option<&'r str>> {
        row.opt_str(col)
    }
}
impl Value<'_> for String {
    fn read<R: Get>(row: &R, col: &str) -> sqlx::Result<String> {
        row.str(col).map(str::to_string)
    }
}
impl Value<'_> for Option<String> {
    fn read<R: Get>(row: &R, col: &str) -> sqlx::Result<Option<String>> {
        Ok(row.opt_str(col)?.map(str::to_string))
    }
}

/// Every sqlx connection whose database takes and gives the types of [`Arg`] and [`Get`]
/// (SQLite's and PostgreSQL's).
#[async_trait]
impl<C, DB> Conn for C
where
    C: sqlx::Connection<Database = DB> + Send,
    DB: Database,
    for<'c> &'c mut C: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    DB::Row: Get + Send + Sync,
    DB::QueryResult: Affected,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
{
    type Row = DB::Row;

    async fn run(&mut self, q: Q) -> sqlx::Result<u64> {
        let done = bound(&q.sql, q.args).execute(&mut *self).await?;
        Ok(done.rows())
    }

    async fn all(&mut self, q: Q) -> sqlx::Result<Vec<DB::Row>> {
        bound(&q.sql, q.args).fetch_all(&mut *self).await
    }

    async fn optional(&mut self, q: Q) -> sqlx::Result<Option<DB::Row>> {
        bound(&q.sql, q.args).fetch_optional(&mut *self).await
    }
}

fn bound<DB>(sql: &str, args: Vec<Arg>) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Database,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
{
    args.into_iter()
        .fold(sqlx::query::<DB>(sql), |q, arg| match arg {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
        })
}

/// The count of rows a statement changed: sqlx's query results have no common trait for
/// it, though each backend's result has one.
pub(crate) trait Affected {
    fn rows(&self) -> u64;
}

impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl Affected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl<R> Get for R
where
    R: Row,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
{
    fn int(&self, col: &str) -> sqlx::Result<i64> {
        Row::try_get(self, col)
    }
    fn str(&self, col: &str) -> sqlx::Result<&str> {
        Row::try_get(self, col)
    }
    fn opt_str(&self, col: &str) -> sqlx::Result<Option<&str>> {
        Row::try_get(self, col)
    }
    fn bool(&self, col: &str) -> sqlx::Result<bool> {
        Row::try_get(self, col)
    }
}
