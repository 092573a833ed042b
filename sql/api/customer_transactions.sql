-- A customer's ($1) transactions, newest first, with their baseline and score.
SELECT transaction_id, "timestamp", amount, merchant, payment_method, city, country, device_id,
       customer_tx_count, customer_avg_amount, customer_std_amount, amount_zscore, is_new_device,
       distance_km, speed_kmh, velocity_30m, risk_score, risk_level, reasons, is_alert
FROM silver_transactions
WHERE user_id = $1
ORDER BY "timestamp" DESC, transaction_id
