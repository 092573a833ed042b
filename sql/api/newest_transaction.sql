-- The newest silver transaction's event time in UTC microseconds (NULL when there is none).
SELECT CAST(max("timestamp") AS BIGINT) AS newest FROM silver_transactions
