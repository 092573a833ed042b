-- The 10-minute funnel per category, summed over [$2, $3) of window start (NULL = open), for
-- category $1 (NULL = all).
SELECT category, sum(views) AS views, sum(cart_adds) AS cart_adds, sum(purchases) AS purchases,
       CAST(sum(cart_adds) AS DOUBLE) / nullif(sum(views), 0) AS view_to_cart_rate,
       CAST(sum(purchases) AS DOUBLE) / nullif(sum(cart_adds), 0) AS cart_to_purchase_rate,
       CAST(sum(purchases) AS DOUBLE) / nullif(sum(views), 0) AS conversion_rate
FROM funnel_10m
WHERE ($1 IS NULL OR category = $1)
  AND ($2 IS NULL OR window_start >= $2)
  AND ($3 IS NULL OR window_start < $3)
GROUP BY category
ORDER BY views DESC, category
