-- One fraud alert by id ($1).
SELECT alert_id, transaction_id, user_id, "timestamp", amount, merchant, country, payment_method,
       risk_score, risk_level, reasons, rules_version, model_version
FROM fraud_alerts
WHERE alert_id = $1
