//! Writes that belong to one transaction, sent in as few round trips as the backend allows.
//!
//! Each statement is the same portable SQL as everywhere else, numbered `$1…$n` on its
//! own. On SQLite a batch is one query — the statements joined with `;`, their
//! placeholders renumbered — because sqlx runs a multi-statement query in a single call to
//! the connection's worker thread and binds `$N` across all of its statements: one thread
//! round trip instead of one per statement, which is most of what a statement costs
//! (BENCHMARKS.md). PostgreSQL prepares one statement at a time, so there they run one
//! after another, except that consecutive inserts go together as one statement
//! ([`Batch::execute`]).

use std::borrow::Cow;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Executor};

use super::{Backend, Conn};

/// A bound value: the store binds only text, integers and NULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<Option<&str>> for Value {
    fn from(s: Option<&str>) -> Self {
        Self::OptText(s.map(str::to_string))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

/// One statement and its values, not yet sent.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The store's constant SQL, or (grouped by a batch) text built only from it.
    sql: Cow<'static, str>,
    values: Vec<Value>,
}

impl Statement {
    pub fn new(sql: &'static str, values: Vec<Value>) -> Self {
        Self {
            sql: Cow::Borrowed(sql),
            values,
        }
    }

    /// Text put together from the store's constant SQL (a batch's grouping).
    fn owned(sql: String, values: Vec<Value>) -> Self {
        Self {
            sql: Cow::Owned(sql),
            values,
        }
    }

    fn query(self) -> Query<'static, Any, AnyArguments> {
        let q = match self.sql {
            Cow::Borrowed(sql) => sqlx::query(sql),
            Cow::Owned(sql) => sqlx::query(sqlx::AssertSqlSafe(sql)),
        };
        bind_all(q, self.values)
    }

    /// The SQL, numbered `$1…$n`.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The values, `$1` first.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Runs it on its own.
    pub async fn execute<'c, E: Executor<'c, Database = Any>>(
        self,
        db: E,
    ) -> Result<(), sqlx::Error> {
        self.query().execute(db).await.map(|_| ())
    }

    /// Runs a query that answers at most one row.
    pub async fn fetch_optional<'c, E: Executor<'c, Database = Any>>(
        self,
        db: E,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        self.query().fetch_optional(db).await
    }

    /// Runs a query that answers exactly one row.
    pub async fn fetch_one<'c, E: Executor<'c, Database = Any>>(
        self,
        db: E,
    ) -> Result<AnyRow, sqlx::Error> {
        self.query().fetch_one(db).await
    }
}

fn bind_all(
    mut q: Query<'static, Any, AnyArguments>,
    values: Vec<Value>,
) -> Query<'static, Any, AnyArguments> {
    for v in values {
        q = match v {
            Value::Text(s) => q.bind(s),
            Value::OptText(s) => q.bind(s),
            Value::Int(i) => q.bind(i),
        };
    }
    q
}

/// Statements to run in order, in the caller's transaction.
#[derive(Default, Debug)]
pub struct Batch {
    statements: Vec<Statement>,
    /// The one statement whose row (`RETURNING`) the caller wants back.
    returning: Option<usize>,
}

impl Batch {
    pub fn push(&mut self, s: Statement) {
        self.statements.push(s);
    }

    /// A statement answering one row (`RETURNING`) that [`Batch::execute`] hands back. The
    /// other statements must answer none; the last one pushed this way is the one.
    pub fn push_returning(&mut self, s: Statement) {
        self.returning = Some(self.statements.len());
        self.statements.push(s);
    }

    /// The statements, and which of them answers the row, for a caller that runs them
    /// itself (`store::sync_sqlite`).
    pub fn into_statements(self) -> (Vec<Statement>, Option<usize>) {
        (self.statements, self.returning)
    }

    /// Runs them all; answers the row of the statement pushed with
    /// [`Batch::push_returning`], if any.
    pub async fn execute(
        self,
        conn: &mut Conn,
        backend: Backend,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        match backend {
            Backend::Sqlite if self.statements.len() > 1 => {
                let returning = self.returning.is_some();
                let (sql, values) = self.joined();
                // Built only from the statements' own constant SQL.
                let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), values);
                if returning {
                    // Only that statement answers rows.
                    Ok(query.fetch_all(&mut *conn).await?.into_iter().next())
                } else {
                    query.execute(&mut *conn).await.map(|_| None)
                }
            }
            // PostgreSQL, or a single statement (which grouping leaves as it is).
            _ => {
                let mut row = None;
                for (returns, group) in self.inserts_grouped() {
                    if returns {
                        row = group.fetch_optional(&mut *conn).await?;
                    } else {
                        group.execute(&mut *conn).await?;
                    }
                }
                Ok(row)
            }
        }
    }

    /// PostgreSQL prepares one statement at a time, so each is a round trip; but
    /// consecutive plain `INSERT`s can go as one statement, each a data-modifying `WITH`
    /// (`WITH w1 AS (INSERT …), w2 AS (INSERT …) SELECT 1`). Only inserts: they touch no row
    /// another one reads or changes, which is what makes it safe (the parts of one
    /// statement share a snapshot and cannot see each other's rows, and one row updated
    /// twice in a statement is an error); a foreign key to a row inserted beside it is
    /// checked at the end of the statement, when it is there. Each group says whether it
    /// is the statement whose row the caller wants.
    fn inserts_grouped(self) -> Vec<(bool, Statement)> {
        let mut out: Vec<(bool, Statement)> = Vec::new();
        let mut run: Vec<Statement> = Vec::new();
        let flush = |run: &mut Vec<Statement>, out: &mut Vec<(bool, Statement)>| match run.len() {
            0 => {}
            1 => out.push((false, run.pop().expect("one"))),
            _ => {
                let mut sql = String::from("WITH ");
                let mut values = Vec::new();
                for (k, s) in run.drain(..).enumerate() {
                    if k > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("w{k} AS ("));
                    renumber_into(&mut sql, &s.sql, values.len());
                    sql.push(')');
                    values.extend(s.values);
                }
                sql.push_str(" SELECT 1");
                out.push((false, Statement::owned(sql, values)));
            }
        };
        for (i, s) in self.statements.into_iter().enumerate() {
            let returns = Some(i) == self.returning;
            if !returns && s.sql.trim_start().starts_with("INSERT") && !s.sql.contains("RETURNING")
            {
                run.push(s);
            } else {
                flush(&mut run, &mut out);
                out.push((returns, s));
            }
        }
        flush(&mut run, &mut out);
        out
    }

    /// One multi-statement SQL text with every statement's `$n` shifted past the values
    /// of the statements before it, and all the values in order.
    fn joined(self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut values = Vec::new();
        for s in self.statements {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            renumber_into(&mut sql, &s.sql, values.len());
            values.extend(s.values);
        }
        (sql, values)
    }
}

/// Appends `sql` with each `$n` replaced by `$(n + offset)`. The store's SQL has no `$`
/// in string literals.
fn renumber_into(out: &mut String, sql: &str, offset: usize) {
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_past_the_earlier_statements_values() {
        let mut b = Batch::default();
        b.push(Statement::new(
            "UPDATE t SET a = $1, b = $2 WHERE id = $1",
            vec![1.into(), "x".into()],
        ));
        b.push(Statement::new(
            "INSERT INTO u VALUES ($1, $2, $2, $3)",
            vec!["y".into(), 2.into(), Value::OptText(None)],
        ));
        let (sql, values) = b.joined();
        assert_eq!(
            sql,
            "UPDATE t SET a = $1, b = $2 WHERE id = $1;\nINSERT INTO u VALUES ($3, $4, $4, $5)"
        );
        assert_eq!(values.len(), 5);
        assert_eq!(values[2], Value::Text("y".into()));
    }

    #[test]
    fn a_dollar_without_digits_is_left_alone() {
        let mut out = String::new();
        renumber_into(&mut out, "SELECT '$' || $12", 3);
        assert_eq!(out, "SELECT '$' || $15");
    }

    #[test]
    fn on_postgresql_consecutive_inserts_go_as_one_statement_and_the_rest_alone() {
        let mut b = Batch::default();
        b.push(Statement::new("INSERT INTO a VALUES ($1)", vec![1.into()]));
        b.push(Statement::new(
            "INSERT INTO b VALUES ($1, $2)",
            vec![2.into(), 3.into()],
        ));
        b.push_returning(Statement::new(
            "UPDATE c SET x = $1 RETURNING x",
            vec![4.into()],
        ));
        b.push(Statement::new("INSERT INTO d VALUES ($1)", vec![5.into()]));
        b.push(Statement::new("UPDATE e SET y = $1", vec![6.into()]));
        b.push(Statement::new("INSERT INTO f VALUES ($1)", vec![7.into()]));
        let groups: Vec<(bool, String, Vec<Value>)> = b
            .inserts_grouped()
            .into_iter()
            .map(|(r, s)| (r, s.sql().to_string(), s.values))
            .collect();
        assert_eq!(
            groups,
            vec![
                (
                    false,
                    "WITH w0 AS (INSERT INTO a VALUES ($1)), w1 AS (INSERT INTO b VALUES ($2, $3)) SELECT 1".to_string(),
                    vec![1.into(), 2.into(), 3.into()]
                ),
                (true, "UPDATE c SET x = $1 RETURNING x".to_string(), vec![4.into()]),
                (false, "INSERT INTO d VALUES ($1)".to_string(), vec![5.into()]),
                (false, "UPDATE e SET y = $1".to_string(), vec![6.into()]),
                (false, "INSERT INTO f VALUES ($1)".to_string(), vec![7.into()]),
            ]
        );
    }
}
