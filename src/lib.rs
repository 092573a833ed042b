//! Streamify: real-time e-commerce analytics and fraud detection in one binary.
//!
//! ```text
//!  sources                bus (topics)            stream processor                 sinks
//!  ───────                ────────────            ────────────────                 ─────
//!  generate (synthetic) ┐                      ┌─ decode + validate ──► dead-letter topic + DLQ table
//!  ingest HTTP POST     ├─► transactions ──────┤  enrich (time, geo, amount band, customer baseline)
//!  ingest files (json,  │   clickstream        ├─ score fraud (rules, velocity, geo, device, model)
//!    csv, dir watch)    │                      │        └──► fraud-alerts topic, alerts table
//!  Kafka (external)     ┘                      ├─ window aggregates (event time, watermarks)
//!                                              │        └──► analytics topic, gold tables, live state
//!                                              └─ bronze/silver rows ──► Delta Lake
//!                                                  checkpoint: offsets + state + watermarks per epoch
//! ```
//!
//! Modules follow the flow: [`model`] (the events), [`generate`] and [`ingest`] (sources),
//! [`bus`] (the durable log between stages), [`stream`] (the stream processor: operators,
//! event time, windows, checkpoints), [`fraud`] (features, customer state, rules and score: pure
//! logic called per transaction), [`analytics`] (the pure KPI, session and funnel maths), [`sink`]
//! (the Delta Lake the processor writes, with its exactly-once contract) and [`serve`] (SQL over
//! the lake). [`cli`] is the only place that assembles a whole pipeline.

pub mod analytics;
pub mod bus;
pub mod cli;
pub mod config;
pub mod fraud;
pub mod generate;
pub mod ingest;
pub mod model;
pub mod serve;
pub mod sink;
pub mod stream;
pub mod telemetry;
