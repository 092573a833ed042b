//! Serving Streamify's results to people and programs.
//!
//! Everything served reads what the pipeline has committed; nothing here writes to the lake or
//! the bus. Today that is SQL over the lake ([`sql`]): every Delta table is registered in an
//! embedded DataFusion session under its SQL name (`silver_transactions`, `fraud_alerts`, ...), for
//! the `streamify sql` command. A query sees the tables as of the moment the session was opened.
//! The REST API, the live dashboard, `/metrics` and model serving will live here too, each in its
//! own file, behind one router.

pub mod sql;
