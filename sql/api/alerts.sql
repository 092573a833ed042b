-- Fraud alerts, newest first. $1 risk level, $2 from (inclusive), $3 to (exclusive),
-- $4 merchant, $5 user id: each NULL for no filter.
SELECT alert_id, transaction_id, user_id, "timestamp", amount, merchant, country, payment_method,
       risk_score, risk_level, reasons, rules_version, model_version
FROM fraud_alerts
WHERE ($1 IS NULL OR risk_level = $1)
  AND ($2 IS NULL OR "timestamp" >= $2)
  AND ($3 IS NULL OR "timestamp" < $3)
  AND ($4 IS NULL OR merchant = $4)
  AND ($5 IS NULL OR user_id = $5)
ORDER BY "timestamp" DESC, alert_id
