//! `score`: enrich each transaction (silver), score it for fraud, raise alerts.
//!
//! Customer state (baseline, velocity, devices, last place) lives in one
//! [`FraudState`] per `transactions` partition. Records of one customer share a partition, so
//! each state sees its customers' events in log order, whatever order the runtime interleaves
//! partitions in: a replay after a crash computes the same features and scores. (The
//! device-shared-by-many-customers count is therefore per partition.)
//!
//! The rules in effect are part of the state: a reloaded rules file takes effect at the next
//! epoch, and is what a replay of that epoch uses. Alerts (score level at or above
//! `fraud.alert_level`) go to `gold/fraud_alerts` and to the `fraud-alerts` topic keyed by
//! customer, with a deterministic alert id.

use crate::analytics::kpi::KpiInput;
use crate::fraud::{self, FraudConfig, FraudDelta, FraudState, Score};
use crate::model::{Timestamp, Transaction, Vocabulary, topic};
use crate::stream::changelog::Image;
use crate::stream::operator::{Operator, OperatorError, Snapshot, load, snapshot};
use crate::stream::outputs::{AlertRow, Outputs, SilverTransaction, event_date};
use compact_str::CompactString;
use std::io::Read;
use std::sync::Arc;

pub struct ScoreOp {
    config: Arc<FraudConfig>,
    rules_version: String,
    /// A reloaded configuration, applied at the next epoch.
    pending: Option<Arc<FraudConfig>>,
    states: Vec<FraudState>,
    alerts: u64,
    /// The last event-time day whose start expiry ran at.
    expired_through: Option<i64>,
}

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// What the windows need of a scored transaction.
pub struct ScoredInfo<'t> {
    /// Parsed from the transaction's location.
    pub country: &'t str,
    pub kpi: KpiInput,
    pub alert: bool,
}

impl ScoreOp {
    pub fn new(config: FraudConfig, partitions: u32) -> Self {
        let rules_version = config.version();
        ScoreOp {
            config: Arc::new(config),
            rules_version,
            pending: None,
            states: (0..partitions.max(1)).map(|_| FraudState::new()).collect(),
            alerts: 0,
            expired_through: None,
        }
    }

    /// Alerts raised since start.
    pub fn alerts(&self) -> u64 {
        self.alerts
    }

    /// Customers with state, over all partitions.
    pub fn customers(&self) -> usize {
        self.states.iter().map(FraudState::len).sum()
    }

    pub fn rules_version(&self) -> &str {
        &self.rules_version
    }

    /// Uses `config` from the next epoch on.
    pub fn reload(&mut self, config: FraudConfig) {
        self.pending = Some(Arc::new(config));
    }

    /// Whether a reloaded configuration waits for the next checkpoint to take effect.
    pub fn reload_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Enriches and scores one transaction read from `partition` at `offset`.
    pub fn score<'t>(
        &mut self,
        tx: &'t Arc<Transaction>,
        partition: u32,
        offset: u64,
        out: &mut Outputs,
    ) -> ScoredInfo<'t> {
        let cfg = &*self.config;
        let i = (partition as usize).min(self.states.len() - 1);
        let e = self.states[i].observe(tx, cfg);
        let Score { score, level, reasons } = fraud::score(tx, &e, None, cfg);
        let alert = fraud::is_alert(level, cfg);
        let mut reason_text = CompactString::default();
        for r in reasons.iter() {
            if !reason_text.is_empty() {
                reason_text.push(',');
            }
            reason_text.push_str(r.code.as_str());
            reason_text.push(':');
            reason_text.push_str(itoa::Buffer::new().format(r.points));
        }
        if alert {
            let user_id = tx.user_id.to_string();
            self.alerts += 1;
            let row = AlertRow {
                alert_id: fraud::alert_id(&tx.transaction_id, &self.rules_version, None),
                transaction_id: tx.transaction_id.to_string(),
                user_id: user_id.clone(),
                timestamp: tx.timestamp,
                amount: tx.amount,
                merchant: tx.merchant.to_string(),
                country: e.country.to_string(),
                payment_method: tx.payment_method.as_str(),
                risk_score: score,
                risk_level: level_name(level),
                reasons: reason_text.to_string(),
                rules_version: self.rules_version.clone(),
                model_version: None,
                event_date: event_date(tx.timestamp),
            };
            if let Ok(value) = serde_json::to_vec(&row) {
                out.messages.push((topic::FRAUD_ALERTS, user_id.into_bytes(), value));
            }
            out.alerts.push(row);
        }
        out.silver_transactions.push(SilverTransaction {
            source_partition: partition,
            source_offset: offset,
            tx: tx.clone(),
            city: e.city.into(),
            country: e.country.into(),
            hour: e.hour,
            day_of_week: e.day_of_week,
            is_weekend: e.is_weekend,
            amount_band: e.amount_band.as_str(),
            is_high_value: e.is_high_value,
            customer_tx_count: e.baseline.count,
            customer_avg_amount: e.baseline.mean,
            customer_std_amount: e.baseline.std,
            amount_zscore: e.amount_zscore,
            is_new_device: e.is_new_device,
            device_customers: e.device_customer_count,
            distance_km: e.distance_km,
            speed_kmh: e.speed_kmh,
            velocity_30m: e.velocity_count,
            risk_score: score,
            risk_level: level_name(level),
            reasons: reason_text,
            is_alert: alert,
        });
        let kpi = KpiInput {
            amount: tx.amount,
            customer: super::user_hash(&tx.user_id),
            device: super::hash(tx.device_id.as_bytes()),
            merchant: super::hash(tx.merchant.as_bytes()),
            payment_method: tx.payment_method,
            known_fraud: tx.is_fraud == Some(true),
            alert,
            high_value: e.is_high_value,
        };
        ScoredInfo { country: e.country, kpi, alert }
    }
}

impl Operator for ScoreOp {
    fn name(&self) -> &'static str {
        "score"
    }

    fn restore(&mut self, image: &mut dyn Read, full: bool) -> Result<(), OperatorError> {
        let (config, states, alerts, expired_through): (FraudConfig, Vec<Image<FraudState, FraudDelta>>, u64, _) =
            if full {
                let (config, states, alerts, expired): (FraudConfig, Vec<FraudState>, u64, Option<i64>) =
                    load(self.name(), image)?;
                (config, states.into_iter().map(Image::Full).collect(), alerts, expired)
            } else {
                load(self.name(), image)?
            };
        if states.len() != self.states.len() {
            return Err(OperatorError::new(
                "score",
                format!(
                    "the checkpoint has state for {} transactions partitions, the log has {}; \
                     partitions cannot change under a running processor",
                    states.len(),
                    self.states.len()
                ),
            ));
        }
        self.rules_version = config.version();
        self.config = Arc::new(config);
        for (state, image) in self.states.iter_mut().zip(states) {
            state.apply(image);
        }
        self.alerts = alerts;
        self.expired_through = expired_through;
        Ok(())
    }

    fn watermark(&mut self, wm: Timestamp, _budget: usize, _out: &mut Outputs) -> bool {
        // Expiry scans every customer, so it runs once a day of event time, with the day's start
        // as its clock: which customers it forgets then depends on the events only, not on when
        // batches, epochs or restarts happened, and a replay forgets the same ones.
        let day = wm.micros().div_euclid(DAY_MICROS);
        if self.expired_through.is_none_or(|d| day > d) {
            let boundary = Timestamp::from_micros(day.saturating_mul(DAY_MICROS));
            let cfg = &*self.config;
            for state in &mut self.states {
                let _ = state.expire(boundary, cfg);
            }
            self.expired_through = Some(day);
        }
        false
    }

    fn checkpoint(&mut self, full: bool) -> Snapshot {
        if let Some(config) = self.pending.take() {
            self.rules_version = config.version();
            self.config = config;
        }
        let (config, alerts, expired) = ((*self.config).clone(), self.alerts, self.expired_through);
        match full {
            true => {
                let states: Vec<_> = self.states.iter_mut().map(FraudState::whole).collect();
                snapshot(self.name(), (config, states, alerts, expired))
            }
            false => {
                let deltas: Vec<_> = self.states.iter_mut().map(FraudState::delta).collect();
                snapshot(self.name(), (config, deltas, alerts, expired))
            }
        }
    }

    fn settle(&mut self, budget: usize) {
        self.states.iter_mut().for_each(|s| s.settle(budget));
    }
}

/// The level as the seed's table writes it (`CRITICAL`, `HIGH`, ...).
fn level_name(level: fraud::RiskLevel) -> &'static str {
    match level {
        fraud::RiskLevel::Minimal => "MINIMAL",
        fraud::RiskLevel::Low => "LOW",
        fraud::RiskLevel::Medium => "MEDIUM",
        fraud::RiskLevel::High => "HIGH",
        fraud::RiskLevel::Critical => "CRITICAL",
    }
}
