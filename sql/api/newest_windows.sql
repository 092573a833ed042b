-- The newest window start of each gold table the server keeps in memory, in UTC microseconds
-- (NULL when the table holds none).
SELECT (SELECT CAST(max(window_start) AS BIGINT) FROM kpi_1m) AS kpi_1m,
       (SELECT CAST(max(window_start) AS BIGINT) FROM platform_1h) AS platform_1h,
       (SELECT CAST(max(window_start) AS BIGINT) FROM merchant_payment_country_10m) AS merchant_payment_country_10m
