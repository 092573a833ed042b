-- Platform KPIs per 1-minute window, newest first. $1 from, $2 to (window start), NULL = open.
SELECT window_start, window_end, tx_count, revenue, avg_amount, alert_count, alert_rate,
       known_fraud_count, known_fraud_rate, high_value_count, high_value_rate, distinct_customers,
       distinct_devices, distinct_merchants, payment_mix
FROM kpi_1m
WHERE ($1 IS NULL OR window_start >= $1) AND ($2 IS NULL OR window_start < $2)
ORDER BY window_start DESC
