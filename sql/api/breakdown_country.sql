-- Transactions by country over [$1, $2) of event time (NULL = open), biggest revenue first.
SELECT country AS key, count(*) AS orders, sum(amount) AS revenue, avg(amount) AS avg_amount,
       sum(CASE WHEN is_alert THEN 1 ELSE 0 END) AS alerts,
       CAST(sum(CASE WHEN is_alert THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS fraud_rate
FROM silver_transactions
WHERE ($1 IS NULL OR "timestamp" >= $1) AND ($2 IS NULL OR "timestamp" < $2)
GROUP BY country
ORDER BY revenue DESC, key
