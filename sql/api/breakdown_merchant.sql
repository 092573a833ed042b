-- Orders, revenue and alerts by merchant over the closed 10-minute windows of
-- gold/merchant_payment_country_10m that start in [$1, $2) (NULL = open), biggest revenue first.
-- Late events are not in a window (they are in late_events); windows still open are not here.
SELECT merchant AS key, sum(tx_count) AS orders, sum(revenue) AS revenue,
       sum(revenue) / CAST(sum(tx_count) AS DOUBLE) AS avg_amount,
       sum(alert_count) AS alerts,
       CAST(sum(alert_count) AS DOUBLE) / CAST(sum(tx_count) AS DOUBLE) AS fraud_rate
FROM merchant_payment_country_10m
WHERE ($1 IS NULL OR window_start >= $1) AND ($2 IS NULL OR window_start < $2)
GROUP BY merchant
ORDER BY revenue DESC, key
